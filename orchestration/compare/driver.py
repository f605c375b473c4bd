"""`run_compare`: every method at every seed, trained and measured as Ray tasks, several at once
where the cluster has room; the table, charts and grid on the compare's parent MLflow run.

A run already finished with the same key (its config and the protocol, see spec.MethodRun.key)
is reused: its result is read back from its MLflow run, nothing is trained. A run that was cut
off (the driver killed, Ctrl-C) is continued in the same MLflow run, from its newest checkpoint;
one that failed is run again. A failing run fails alone: the table says so and the others go
on. The driver never imports TensorFlow (worker.py does, in the tasks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from ganime_core.errors import GanimeError, last_line
from ganime_core.metrics import names
from orchestration.compare import table
from orchestration.compare.paper import PAPER_SOURCE, paper_row
from orchestration.compare.spec import Compare, MethodRun
from orchestration.compare.table import FAILED, RAN, REUSED, MethodRow, RunOutcome, RunResult
from orchestration.compare.worker import MethodWork, RunFailure, run_method
from orchestration.interrupts import sigterm_as_sigint
from orchestration.jobs.plan import runs_at_once
from orchestration.jobs.spec import TrialResources
from orchestration.jobs.storage import load_record, save_record, storage_root
from orchestration.tracking.compares import (
    adopt,
    find_finished,
    log_compare_summary,
    method_job,
    open_compare_run,
    open_method_run,
    read_samples,
    record_failure,
)
from orchestration.tracking.runs import experiment_id, tracking_uri
from orchestration.training.ray_train import (
    TRAIN_DRIVER_MEMORY,
    reachable_from_workers,
)

log = logging.getLogger(__name__)

COMPARE_FILE = "ganime-compare.json"


class CompareInterrupted(GanimeError):
    """The driver was interrupted; `ganime compare --resume NAME` continues the compare."""

    exit_code = 130


@dataclass(frozen=True)
class CompareOutcome:
    parent_run_id: str
    experiment_id: str
    rows: list[MethodRow]
    cells: list[dict[str, str]]  # the table's text
    notes: list[str]  # how the intervals were computed, every pair's test, and caveats
    outcomes: list[RunOutcome]

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]


def run_compare(
    compare: Compare,
    *,
    address: str | None = None,
    storage: str | None = None,
    say: Callable[[str], None] = print,
) -> CompareOutcome:
    """Run (or continue, or reuse) every run of `compare`; log the table to MLflow; return it.
    Raises CompareInterrupted if interrupted before every run ended."""
    root = storage_root(storage)
    uri = tracking_uri()
    parent = open_compare_run(  # fails before Ray starts if the server is unreachable
        uri, compare.name, job=compare_job(compare), params=_parent_params(compare)
    )
    save_record(root, compare.name, COMPARE_FILE, {**compare.to_record(), "parent_run_id": parent})
    reused, to_run = [], []
    for run in compare.in_order_of_work():
        key = run.key(compare.config.evaluation)
        found = find_finished(
            uri, compare.name, method_job(compare.name, run.method, run.seed, key)
        )
        result = _readable(found[1]) if found else None
        if found and result:
            adopt(uri, found[0], parent)
            reused.append(RunOutcome(run.method, run.seed, REUSED, found[0], result))
        else:
            to_run.append(run)
    say(
        f"compare {compare.name}: {len(compare.methods())} methods x "
        f"{len(compare.config.seed_list())} seeds = {len(compare.runs)} runs "
        f"({len(to_run)} to run, {len(reused)} reused)"
    )
    outcomes = list(reused)
    if to_run:
        outcomes += _run_all(compare, to_run, root, uri, parent, address, say)
    return _summarize(compare, uri, parent, outcomes)


def _readable(record: dict[str, Any]) -> RunResult | None:
    """The result a finished run wrote; None if an older GANime wrote it (the run runs again)."""
    try:
        return RunResult.from_record(record)
    except (KeyError, TypeError, ValueError):
        return None


def compare_job(compare: Compare) -> str:
    """The parent run's job: the compare's name and content. A changed compare file is a new
    parent run (its params differ); its unchanged runs are reused under it."""
    record = {**compare.to_record(), "source": None}
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return f"compare {compare.name} {digest}"


def _parent_params(compare: Compare) -> dict[str, Any]:
    config = compare.config
    evaluation = config.evaluation
    params: dict[str, Any] = {
        "source": str(compare.source),
        "seeds": " ".join(map(str, config.seed_list())),
        "epochs": config.epochs or "each experiment's",
        "evaluation.split": evaluation.split,
        "evaluation.max_images": evaluation.max_images or "all",
        "evaluation.reference": evaluation.reference,
        "evaluation.bootstrap_replicates": evaluation.bootstrap_replicates,
        "baseline": compare.baseline() or "none",
        "trial_resources": (
            f"{config.trial.workers} workers x ({config.trial.cpus_per_worker} CPU, "
            f"{config.trial.gpus_per_worker} GPU)"
        ),
    }
    for key, value in sorted(table_protocol(compare).items()):
        params[key] = value
    for method in config.methods:
        overrides = " ".join(f"{k}={v}" for k, v in method.overrides.items())
        params[f"method.{method.name}"] = f"{method.experiment} {overrides}".strip()
    return params


def table_protocol(compare: Compare) -> dict[str, Any]:
    """The data and metrics every run is measured with (equal for all runs, spec checks)."""
    first = compare.runs[0].config
    return {
        "data.image_size": first.data.image_size,
        "data.path": str(first.data.path) if first.data.path else "generated",
        "metrics.backbone": "stand-in allowed"
        if first.metrics.allow_untrained_backbone
        else "ImageNet InceptionV3",
    }


def _run_all(
    compare: Compare,
    runs: list[MethodRun],
    root: str,
    uri: str,
    parent: str,
    address: str | None,
    say: Callable[[str], None],
) -> list[RunOutcome]:
    """Run `runs` as Ray tasks, at most as many at once as the cluster holds."""
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    trial = compare.config.trial
    at_once = runs_at_once(
        trial, ray.cluster_resources(), [len(runs), compare.config.max_concurrent]
    )
    if at_once == 0:
        raise GanimeError(
            f"a run needs {trial.workers * trial.cpus_per_worker} CPU and "
            f"{trial.workers * trial.gpus_per_worker} GPU, more than the Ray cluster has; lower "
            "trial.workers or trial.cpus_per_worker"
        )
    shards = compare.config.evaluation.shards or at_once
    say(f"running {len(runs)} runs, {at_once} at once (NST and Fast NST in {shards} shards)")
    pending = list(runs)
    running: dict[Any, tuple[MethodRun, str]] = {}
    outcomes: list[RunOutcome] = []
    started = time.monotonic()
    try:
        with sigterm_as_sigint():
            while pending or running:
                while pending and len(running) < at_once:
                    run = pending.pop(0)
                    run_id, work = _work(compare, run, root, uri, parent, shards)
                    running[_submit(run, trial, work)] = (run, run_id)
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    run, run_id = running.pop(ref)
                    outcome = _outcome(ref, run, run_id, uri)
                    outcomes.append(outcome)
                    say(_progress_line(outcome, len(outcomes), len(runs), started))
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref, force=True, recursive=True)
        unfinished = len(running) + len(pending)
        raise CompareInterrupted(
            f"compare {compare.name} interrupted with {unfinished} of {len(runs)} runs unfinished "
            f"(their checkpoints are kept); ganime compare --resume {compare.name} continues it"
        ) from None
    return outcomes


def _work(
    compare: Compare, run: MethodRun, root: str, uri: str, parent: str, shards: int
) -> tuple[str, MethodWork]:
    """The run's MLflow run (opened here: a tracking error stops the driver, not a task) and
    what its task needs."""
    key = run.key(compare.config.evaluation)
    run_id = open_method_run(
        uri,
        compare.name,
        run.config,
        method=run.method,
        seed=run.seed,
        key=key,
        parent_run_id=parent,
    )
    folder = f"{run.method}-seed{run.seed}-{key}"
    # A 1-worker run checkpoints where the next driver finds it: the storage folder, or (for a
    # URI storage, which TensorFlow's checkpoints do not write to) a folder here.
    local = Path(root) if "://" not in root else Path("runs/compare").resolve()
    work = MethodWork(
        method=run.method,
        seed=run.seed,
        key=key,
        config=run.config,
        evaluation=compare.config.evaluation,
        trial=compare.config.trial,
        tracking_uri=reachable_from_workers(uri),
        run_id=run_id,
        output_dir=str(local / compare.name / "runs" / folder),
        ray_storage=f"{root}/{compare.name}/ray",
        job_name=folder,
        shards=shards,
    )
    return run_id, work


def _submit(run: MethodRun, trial: TrialResources, work: MethodWork) -> Any:
    if run.trains and trial.workers > 1:
        # This task only drives a Ray Train run; its workers hold the CPUs and GPUs.
        options: dict[str, Any] = {"num_cpus": 0, "memory": TRAIN_DRIVER_MEMORY}
    else:
        options = {"num_cpus": trial.cpus_per_worker, "num_gpus": trial.gpus_per_worker}
    return run_method.options(**options, name=f"compare {run.method} seed {run.seed}").remote(work)


def _outcome(ref: Any, run: MethodRun, run_id: str, uri: str) -> RunOutcome:
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the task's process died (out of memory, killed)
        reason = last_line(str(exc)) or type(exc).__name__
        record_failure(uri, run_id, reason)
        return RunOutcome(run.method, run.seed, FAILED, run_id, error=reason)
    if isinstance(result, RunFailure):
        return RunOutcome(run.method, run.seed, FAILED, run_id, error=result.reason)
    return RunOutcome(run.method, run.seed, RAN, run_id, result)


def _progress_line(outcome: RunOutcome, done: int, total: int, started: float) -> str:
    head = (
        f"[{done}/{total} {time.monotonic() - started:.0f} s] {outcome.method} seed {outcome.seed}"
    )
    if outcome.result is None:
        return f"{head}: failed: {outcome.error}"
    values = outcome.result.values
    shown = "  ".join(
        f"{name} {values[name]:.{table.digits(name, abs(values[name]))}f}"
        for name in table.OBJECTIVES
        if values.get(name) is not None
    )
    return f"{head}: {shown}  ({outcome.result.seconds or 0:.0f} s)"


def _summarize(
    compare: Compare, uri: str, parent: str, outcomes: list[RunOutcome]
) -> CompareOutcome:
    """The table from the runs' results, its files on the parent run, and the parent's end:
    FINISHED when every run finished, FAILED when one failed (the table says which)."""
    families = compare.families()
    paper_rows = {run.method: paper_row(run.config) for run in compare.runs}
    rows = table.method_rows(compare.methods(), families, paper_rows, outcomes)
    baseline = compare.baseline()
    cells = table.table_rows(rows, baseline)
    notes = [*table.failure_notes(rows), *table.interval_notes(rows), *table.pair_notes(rows)]
    caveat = _backbone_caveat(outcomes)
    if caveat:
        notes.append(caveat)
    with tempfile.TemporaryDirectory(prefix="ganime-compare-") as folder:
        out = Path(folder)
        description = _description(compare, cells, notes)
        (out / "compare.md").write_text(description)
        files = [
            out / "compare.md",
            table.write_table_csv(rows, baseline, out / "compare.csv"),
            table.write_runs_csv(outcomes, out / "compare_runs.csv"),
            table.write_pairs_csv(rows, out / "compare_pairs.csv"),
        ]
        if any(row.finished for row in rows):
            files.append(table.plot_bars(rows, out / "compare_metrics.png"))
            grid = _grid_columns(compare, uri, outcomes)
            if grid:
                files.append(table.plot_grid(grid, out / "compare_grid.png"))
        failed = any(o.status == FAILED for o in outcomes)
        log_compare_summary(
            uri,
            parent,
            files=files,
            description=description,
            metrics=_parent_metrics(rows),
            status="FAILED" if failed else "FINISHED",
        )
    return CompareOutcome(
        parent, experiment_id(uri, compare.name), rows, cells, notes, sorted(outcomes, key=_order)
    )


def _order(outcome: RunOutcome) -> tuple[str, int]:
    return outcome.method, outcome.seed


def _standin_methods(outcomes: list[RunOutcome], network: str) -> list[str]:
    """The methods some of whose runs were measured with the seeded stand-in `network`."""
    found = (o.method for o in outcomes if o.result and network in o.result.standins)
    return list(dict.fromkeys(found))


def _backbone_caveat(outcomes: list[RunOutcome]) -> str | None:
    """What the stand-in networks mean for the table, naming each network and its methods."""
    caveats = []
    inception = f"{names.UNTRAINED_MARK}_{names.INCEPTION}"
    vgg19 = f"{names.UNTRAINED_MARK}_{names.VGG19}"
    if _standin_methods(outcomes, names.INCEPTION):
        caveats.append(
            f"FID and KID were measured with a seeded untrained InceptionV3 (names marked "
            f"{inception}): comparable between these rows, not with the paper's numbers."
        )
    on_vgg19 = _standin_methods(outcomes, names.VGG19)
    if on_vgg19:
        caveats.append(
            f"{', '.join(on_vgg19)} ran on a seeded untrained VGG19 (names marked {vgg19}, "
            "SSIM included): their numbers are not those of the method with ImageNet weights."
        )
    return " ".join(caveats) or None


def _description(compare: Compare, cells: list[dict[str, str]], notes: list[str]) -> str:
    config = compare.config
    first = compare.runs[0].config
    n = config.evaluation.max_images or "all"
    protocol = (
        f"{len(config.seed_list())} seed(s) per method; each run measured on the first {n} "
        f"{config.evaluation.split} images at {first.data.image_size} px, references "
        f"{config.evaluation.reference} (drawn from each run's seed, the same for every method)"
    )
    epochs = f"; {config.epochs} epochs per trained method" if config.epochs else ""
    replicates = config.evaluation.bootstrap_replicates
    bootstrap = (
        f"; {replicates} bootstrap resamples of those images, the same for every run"
        if replicates
        else "; no bootstrap over the images (intervals from the seeds alone)"
    )
    lines = [
        f"# Compare {compare.name}",
        "",
        protocol + epochs + bootstrap + ".",
        "",
        table.markdown(cells),
        f"Paper columns: the {PAPER_SOURCE}.",
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines) + "\n"


def _parent_metrics(rows: list[MethodRow]) -> dict[str, float]:
    metrics = {}
    for row in rows:
        for objective in table.OBJECTIVES:
            estimate = row.estimate(objective)
            if estimate.mean is not None:
                metrics[f"{row.method}.{objective}_mean"] = estimate.mean
            if estimate.std is not None:
                metrics[f"{row.method}.{objective}_std"] = estimate.std
            if estimate.interval is not None:
                low, high = estimate.interval
                metrics[f"{row.method}.{objective}_ci_low"] = low
                metrics[f"{row.method}.{objective}_ci_high"] = high
    return metrics


def _grid_columns(compare: Compare, uri: str, outcomes: list[RunOutcome]) -> list[tuple[str, Any]]:
    """sketch | reference | each method | ground truth, for the first seed's held-out
    sketches (the same rows, and references, for every method)."""
    seed = compare.config.seed_list()[0]
    first = {o.method: o for o in outcomes if o.seed == seed and o.finished}
    samples = {m: read_samples(uri, first[m].run_id) for m in compare.methods() if m in first}
    if not samples:
        return []
    any_samples = next(iter(samples.values()))
    columns = [("sketch", any_samples["sketch"])]
    with_reference = next((s for s in samples.values() if "reference" in s), None)
    if with_reference is not None:
        columns.append((f"reference (seed {seed})", with_reference["reference"]))
    columns += [(method, s["generated"]) for method, s in samples.items()]
    columns.append(("ground truth", any_samples["color"]))
    return columns


def load_saved_compare(name: str, storage: str | None) -> Compare:
    """The compare NAME as it was last started; GanimeError if there is none."""
    root = storage_root(storage)
    record = load_record(root, name, COMPARE_FILE)
    if record is None:
        raise GanimeError(
            f"no compare {name!r} in {root}; start it with ganime compare COMPARE.yaml, or pass "
            "the --storage it was started with"
        )
    return Compare.from_record(record)
