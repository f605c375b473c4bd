"""`ganime` command line: parse arguments, call one function, print the result.

Heavy imports (TensorFlow) happen inside the command that needs them, so `ganime --help` and
config errors answer at once. Errors a user can cause end in one line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from functools import partial
from pathlib import Path

from ganime_core.errors import GanimeError


def _add_experiment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", type=Path, help="experiment YAML file (see experiments/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.lambda_tv=1e-3 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganime", description="Train and compare anime-sketch colorization GANs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train an experiment on this machine")
    _add_experiment(train)
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    ray_options = train.add_argument_group("data-parallel training on Ray Train")
    ray_options.add_argument(
        "--workers", type=int, default=None, help="Ray Train workers (one replica each)"
    )
    ray_options.add_argument("--cpus-per-worker", type=int, default=1)
    ray_options.add_argument("--gpus-per-worker", type=int, default=0)
    ray_options.add_argument(
        "--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or local Ray)"
    )
    ray_options.add_argument(
        "--storage",
        default=os.environ.get("GANIME_RAY_STORAGE"),
        help="checkpoint storage: folder, s3:// or gs:// URI (default: $GANIME_RAY_STORAGE, "
        "else train.output_dir/ray)",
    )
    ray_options.add_argument(
        "--max-failures", type=int, default=0, help="worker failures to recover from"
    )
    train.set_defaults(run=_train)

    sweep = commands.add_parser(
        "sweep",
        help="hyperparameter sweep: Ray Tune + Optuna + ASHA, trials on Ray Train, in MLflow",
    )
    target = sweep.add_mutually_exclusive_group(required=True)
    target.add_argument("sweep_file", nargs="?", type=Path, help="sweep YAML file")
    target.add_argument(
        "--resume", metavar="NAME", help="continue the sweep NAME whose driver was stopped"
    )
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a sweep value (num_samples=4, asha.max_epochs=2, trial.workers=2) or, "
        "under data/model/optimizer/train/metrics, a base experiment value (repeatable)",
    )
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="print the search space, each trial's resources and how many run at once; start "
        "nothing",
    )
    sweep.add_argument(
        "--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or local Ray)"
    )
    sweep.add_argument(
        "--storage",
        default=None,
        help="Tune and checkpoint storage: folder, s3:// or gs:// URI (default: "
        "$GANIME_RAY_STORAGE, else runs/ray)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no live trial table")
    sweep.set_defaults(run=_sweep)

    describe = commands.add_parser(
        "describe", help="print each network's parameters and shapes as JSON"
    )
    _add_experiment(describe)
    describe.set_defaults(run=_describe)

    evaluate = commands.add_parser(
        "evaluate", help="FID, KID and SSIM of a trained generator on a data split, as JSON"
    )
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint", type=Path, help="an epoch-NNNN checkpoint folder, or a run folder (newest)"
    )
    source.add_argument(
        "--model", help="an MLflow model URI, e.g. runs:/RUN_ID/generator or models:/NAME@ALIAS"
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        default=None,
        help="Kaggle-layout folder (train/ and val/); default: the data the model was trained on",
    )
    evaluate.add_argument("--split", choices=("val", "train"), default="val")
    evaluate.add_argument("--limit", type=int, default=None, help="first N images of the split")
    evaluate.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the model's config, e.g. metrics.batch_size=16 (repeatable)",
    )
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    evaluate.set_defaults(run=_evaluate)

    promote = commands.add_parser(
        "promote",
        help="register a sweep's best generator in the MLflow Model Registry; move @champion "
        "to it if it beats the champion on the held-out split",
    )
    which = promote.add_mutually_exclusive_group(required=True)
    which.add_argument("--sweep", metavar="NAME", help="the best trial of this sweep")
    which.add_argument("--run", dest="run_id", metavar="RUN_ID", help="this training run")
    which.add_argument(
        "--rollback",
        metavar="MODEL",
        help="move MODEL's @champion (e.g. ganime-pix2pix) back to the version it replaced",
    )
    promote.add_argument("--metric", choices=("fid", "kid", "ssim"), default="fid")
    promote.add_argument(
        "--min-improvement",
        type=float,
        default=0.0,
        metavar="X",
        help="the candidate must beat the champion by at least X in the metric (default 0: "
        "strictly better)",
    )
    promote.add_argument(
        "--limit",
        type=int,
        default=None,
        help="held-out images to measure on (default: the whole val split)",
    )
    promote.add_argument(
        "--dry-run", action="store_true", help="say what would happen; change nothing"
    )
    promote.set_defaults(run=_promote)

    colorize = commands.add_parser(
        "colorize", help="colorize sketch files or folders into PNGs at each sketch's size"
    )
    colorize.add_argument("inputs", nargs="+", type=Path, metavar="SKETCH_OR_FOLDER")
    colorize.add_argument("-o", "--out", type=Path, required=True, metavar="OUTDIR")
    generator = colorize.add_mutually_exclusive_group(required=True)
    generator.add_argument(
        "--model", help="an MLflow model URI, e.g. models:/ganime-pix2pix@champion"
    )
    generator.add_argument(
        "--checkpoint", type=Path, help="an epoch-NNNN checkpoint folder, or a run folder (newest)"
    )
    colorize.add_argument("--batch-size", type=int, default=16, help="sketches per batch")
    colorize.add_argument("--no-progress", action="store_true", help="no progress bar")
    colorize.set_defaults(run=_colorize)

    data = commands.add_parser("data", help="data sets").add_subparsers(
        dest="data_command", required=True, metavar="COMMAND"
    )
    synth = data.add_parser("synth", help="write a synthetic data set in the Kaggle layout")
    synth.add_argument("--out", type=Path, required=True, help="folder to create")
    synth.add_argument("--count", type=int, default=500, help="images, 80%% train / 20%% val")
    synth.add_argument("--size", type=int, default=256, help="side of each half, in pixels")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--sketches-only",
        action="store_true",
        help="write COUNT sketch PNGs (no colour half, no splits): input for ganime colorize",
    )
    synth.set_defaults(run=_synth)
    return parser


def _train(args: argparse.Namespace) -> int:
    from ganime_core.config import load_config

    config = load_config(args.experiment, args.overrides)
    if args.workers is not None:
        return _train_on_ray(config, args)
    from ganime_core.train import train

    result = train(config, progress=not args.no_progress)
    last = result.history[-1] if result.history else None
    print(
        json.dumps(
            {
                "run_dir": str(result.run_dir),
                "epochs_completed": result.epochs_completed,
                "resumed_from": result.resumed_from,
                "losses": last.losses if last else None,
                "sample_grid": str(last.sample_grid) if last else None,
                "checkpoint": str(last.checkpoint) if last and last.checkpoint else None,
            }
        )
    )
    return 0


def _train_on_ray(config, args: argparse.Namespace) -> int:
    from orchestration.distributed import Scaling, train_on_ray

    if args.workers < 1 or args.cpus_per_worker < 1 or args.gpus_per_worker < 0:
        raise GanimeError("--workers and --cpus-per-worker must be >= 1, --gpus-per-worker >= 0")
    scaling = Scaling(args.workers, args.cpus_per_worker, args.gpus_per_worker)
    result = train_on_ray(
        config,
        scaling,
        address=args.address,
        storage=args.storage,
        max_failures=args.max_failures,
    )
    print(
        json.dumps(
            {
                "workers": args.workers,
                "epochs_completed": result.metrics.get("epoch"),
                "metrics": result.metrics,
                "checkpoint": result.checkpoint.path if result.checkpoint else None,
            }
        )
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from orchestration.sweep import load_saved_sweep, storage_root
    from orchestration.sweep_config import load_sweep

    if args.resume:
        if args.overrides:
            raise GanimeError("--resume continues a sweep as it was started; drop --set")
        sweep, _ = load_saved_sweep(args.resume, storage_root(args.storage))
    else:
        sweep = load_sweep(args.sweep_file, args.overrides)
    if args.dry_run:
        from orchestration.sweep import cluster_resources, plan_sweep

        resources, where = cluster_resources(args.address)
        print("\n".join(plan_sweep(sweep, resources, where).lines(sweep)))
        print("dry run: nothing started")
        return 0
    from orchestration.sweep import report_lines, run_sweep

    outcome = run_sweep(
        sweep,
        address=args.address,
        storage=args.storage,
        resume=bool(args.resume),
        progress=not args.no_progress,
    )
    print("\n".join(report_lines(sweep, outcome)))
    return 0 if outcome.best is not None else 1


def _describe(args: argparse.Namespace) -> int:
    from ganime_core.config import load_config

    config = load_config(args.experiment, args.overrides)
    from ganime_core.describe import describe

    print(json.dumps(describe(config), indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from orchestration.evaluation import evaluate_checkpoint, evaluate_model

    _check_limit(args.limit)
    options = dict(
        split=args.split, limit=args.limit, overrides=args.overrides, progress=not args.no_progress
    )
    if args.checkpoint is not None:
        summary = evaluate_checkpoint(args.checkpoint, args.data, **options)
    else:
        summary = evaluate_model(args.model, args.data, **options)
    print(json.dumps(summary))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from orchestration.registry import promote, rollback
    from orchestration.tracking import browse_hint, tracking_uri

    if args.rollback:
        print("\n".join(rollback(tracking_uri(), args.rollback, dry_run=args.dry_run)))
        return 0
    _check_limit(args.limit)
    promotion = promote(
        tracking_uri(),
        sweep=args.sweep,
        run_id=args.run_id,
        metric=args.metric,
        min_improvement=args.min_improvement,
        limit=args.limit,
        dry_run=args.dry_run,
    )
    print("\n".join(promotion.lines()))
    if not args.dry_run:
        print(f"see {promotion.name} in the MLflow UI: {browse_hint(f'#/models/{promotion.name}')}")
    return 0


def _colorize(args: argparse.Namespace) -> int:
    from orchestration.colorize import checkpoint_colorizer, colorize_files, model_colorizer

    if args.batch_size < 1:
        raise GanimeError("--batch-size must be >= 1")
    if args.model:
        make_colorizer = partial(model_colorizer, args.model)
    else:
        make_colorizer = partial(checkpoint_colorizer, args.checkpoint, args.batch_size)
    report = colorize_files(
        args.inputs,
        args.out,
        make_colorizer,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    for path, why in report.skipped:
        print(f"ganime: skipped {path}: {why}", file=sys.stderr)
    print(json.dumps(report.summary()))
    return 1 if report.skipped else 0


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 2:
        raise GanimeError(f"--limit {limit}: FID needs at least 2 images")


def _synth(args: argparse.Namespace) -> int:
    from ganime_core.data.synth import write_sketches, write_synthetic_dataset

    if args.sketches_only:
        try:
            paths = write_sketches(args.out, args.count, args.size, args.seed)
        except ValueError as exc:
            raise GanimeError(str(exc)) from None
        print(json.dumps({"out": str(args.out), "count": len(paths), "size": args.size}))
        return 0
    try:
        out = write_synthetic_dataset(args.out, args.count, args.size, args.seed)
    except (ValueError, FileExistsError) as exc:
        raise GanimeError(str(exc)) from None
    print(json.dumps({"out": str(out), "count": args.count, "size": args.size, "seed": args.seed}))
    return 0


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter buries the lines a user needs; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for ours in ("ganime_core", "orchestration"):
        logging.getLogger(ours).setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GanimeError as exc:
        print(f"ganime: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganime: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
