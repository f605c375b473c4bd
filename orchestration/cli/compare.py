"""`ganime compare COMPARE_FILE` (or `--resume NAME`): every method of the file at every seed,
trained and measured under one protocol on Ray, the table as the paper lays it out in MLflow;
`--dry-run` prints the methods, seeds, resources and order of work, and starts nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ganime_core.errors import GanimeError
from orchestration.cli.options import add_overrides, add_ray_address
from orchestration.compare.spec import Compare, MethodRun, load_compare
from orchestration.compare.table import text_table

if TYPE_CHECKING:
    from orchestration.compare.driver import CompareOutcome


def register(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="the paper's comparison: every method, the same data and metrics, seeds, on Ray",
    )
    target = compare.add_mutually_exclusive_group(required=True)
    target.add_argument("compare_file", nargs="?", type=Path, help="compare YAML file")
    target.add_argument(
        "--resume", metavar="NAME", help="continue the compare NAME as it was last started"
    )
    add_overrides(
        compare, help="override a compare value (seeds=2, epochs=4, evaluation.max_images=50)"
    )
    compare.add_argument(
        "--dry-run",
        action="store_true",
        help="print the methods, seeds, each run's resources and the order of work; start nothing",
    )
    add_ray_address(compare)
    compare.add_argument(
        "--storage",
        default=None,
        help="checkpoint storage: folder, s3:// or gs:// URI (default: $GANIME_RAY_STORAGE, "
        "else runs/ray)",
    )
    compare.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    compare = _load(args)
    if args.dry_run:
        print("\n".join(plan_lines(compare, args.address)))
        print("dry run: nothing started")
        return 0
    # Imported once the file is valid: Ray and MLflow take seconds to import.
    from orchestration.compare.driver import run_compare
    from orchestration.tracking.runs import browse_hint

    outcome = run_compare(compare, address=args.address, storage=args.storage)
    print()
    print(table_text(outcome))
    where = f"#/experiments/{outcome.experiment_id}/runs/{outcome.parent_run_id}"
    print(f"\ntable, charts and image grid: MLflow run {outcome.parent_run_id}")
    print(f"browse it: {browse_hint(where)}")
    print(f"promote any method's run: ganime promote --run RUN_ID (see {compare.name}'s runs)")
    return 1 if outcome.failed else 0


def table_text(outcome: CompareOutcome) -> str:
    return "\n".join([text_table(outcome.cells), "", *outcome.notes])


def plan_lines(compare: Compare, address: str | None) -> list[str]:
    """What `--dry-run` prints: the protocol, each method's runs and resources, how many go at
    once, and the order of work with the runs a rerun would reuse."""
    from orchestration.jobs.plan import cluster_resources, runs_at_once

    config = compare.config
    trial = config.trial
    first = compare.runs[0].config
    resources, where = cluster_resources(address)
    at_once = runs_at_once(trial, resources, [len(compare.runs), config.max_concurrent])
    shards = config.evaluation.shards or max(at_once, 1)
    lines = [
        f"compare {compare.name}: {compare.source}",
        f"protocol: {first.data.image_size} px, {config.evaluation.split} split "
        f"(first {config.evaluation.max_images or 'all'} images), references "
        f"{config.evaluation.reference}, seeds {' '.join(map(str, config.seed_list()))}, "
        f"baseline {compare.baseline() or 'none'}",
        "methods:",
    ]
    for method in compare.methods():
        run = next(r for r in compare.runs if r.method == method)
        model = run.config.model
        if run.trains:
            train = run.config.train
            each = (
                f"trains {train.epochs} epochs at batch {train.batch_size} on {trial.workers} "
                f"worker(s) x ({trial.cpus_per_worker} CPU, {trial.gpus_per_worker} GPU)"
            )
        else:
            each = (
                f"trains nothing; measured in {shards} Ray task(s) of ({trial.cpus_per_worker} "
                f"CPU, {trial.gpus_per_worker} GPU)"
            )
        lines.append(f"  {method:<16} {model.family:<12} {each}")
    lines.append(
        f"cluster ({where}): {resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU -> "
        f"{at_once} run(s) at once"
        + (f" (max_concurrent {config.max_concurrent})" if config.max_concurrent else "")
    )
    lines.append("order of work (every method's first seed before any second):")
    for number, run in enumerate(compare.in_order_of_work(), 1):
        state = "reused (finished before)" if _finished_before(compare, run) else "to run"
        lines.append(f"  {number:>3}. {run.method} seed {run.seed}: {state}")
    return lines


def _finished_before(compare: Compare, run: MethodRun) -> bool:
    from orchestration.tracking.compares import find_finished, method_job
    from orchestration.tracking.runs import tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return False  # no store yet; a dry run does not create one
    job = method_job(compare.name, run.method, run.seed, run.key(compare.config.evaluation))
    try:
        return find_finished(uri, compare.name, job) is not None
    except Exception:  # no tracking store yet, or unreachable: the dry run cannot tell
        return False


def _load(args: argparse.Namespace) -> Compare:
    """The compare file with its --set overrides, or with --resume the compare as last started."""
    if not args.resume:
        return load_compare(args.compare_file, args.overrides)
    if args.overrides:
        raise GanimeError("--resume continues a compare as it was started; drop --set")
    from orchestration.compare.driver import load_saved_compare

    return load_saved_compare(args.resume, args.storage)
