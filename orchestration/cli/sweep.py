"""`ganime sweep SWEEP_FILE` (or `--resume NAME`): a hyperparameter sweep on Ray Tune, tracked in
MLflow; `--dry-run` prints its plan and starts nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganime_core.errors import GanimeError
from orchestration.cli.options import add_no_progress, add_overrides, add_ray_address
from orchestration.jobs.storage import storage_root
from orchestration.sweep.spec import Sweep, load_sweep
from orchestration.sweep.storage import load_saved_sweep


def register(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="hyperparameter sweep: Ray Tune + Optuna + ASHA over any config key, in MLflow",
    )
    target = sweep.add_mutually_exclusive_group(required=True)
    target.add_argument("sweep_file", nargs="?", type=Path, help="sweep YAML file")
    target.add_argument(
        "--resume", metavar="NAME", help="continue the sweep NAME whose driver was stopped"
    )
    add_overrides(
        sweep,
        help="override a sweep value (num_samples=4, max_epochs=2, trial.workers=2) or, "
        "under data/model/optimizer/train/metrics, a base experiment value (repeatable)",
    )
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="print the search space, each trial's resources and how many run at once; start "
        "nothing",
    )
    add_ray_address(sweep)
    sweep.add_argument(
        "--storage",
        default=None,
        help="Tune and checkpoint storage: folder, s3:// or gs:// URI (default: "
        "$GANIME_RAY_STORAGE, else runs/ray)",
    )
    add_no_progress(sweep, help="no live trial table")
    sweep.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sweep = _load(args)
    if args.dry_run:
        # Imported once the sweep is valid: Ray takes seconds to import, which --help and a
        # config error need not wait for.
        from orchestration.jobs.plan import cluster_resources
        from orchestration.sweep.plan import plan_sweep

        resources, where = cluster_resources(args.address)
        print("\n".join(plan_sweep(sweep, resources, where).lines(sweep)))
        print("dry run: nothing started")
        return 0
    # Imported once the sweep is valid, as above; Tune and MLflow add more seconds, which a dry
    # run need not wait for (the driver never imports TensorFlow).
    from orchestration.sweep.driver import run_sweep
    from orchestration.sweep.summary import report_lines

    outcome = run_sweep(
        sweep,
        address=args.address,
        storage=args.storage,
        resume=bool(args.resume),
        progress=not args.no_progress,
    )
    print("\n".join(report_lines(sweep, outcome)))
    return 0 if outcome.best is not None else 1


def _load(args: argparse.Namespace) -> Sweep:
    """The sweep file with its --set overrides, or with --resume the sweep as it was started."""
    if not args.resume:
        return load_sweep(args.sweep_file, args.overrides)
    if args.overrides:
        raise GanimeError("--resume continues a sweep as it was started; drop --set")
    sweep, _ = load_saved_sweep(args.resume, storage_root(args.storage))
    return sweep
