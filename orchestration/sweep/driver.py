"""`run_sweep`: the sweep's Tuner (its sampler and scheduler from search.py, reused actors), its
parent run in MLflow, its summary, and what an interrupt does.

The driver never imports TensorFlow and never trains: trials run in Tune's actors
(sweep/trainable.py). An interrupt (Ctrl-C, SIGTERM) stops the trials, saves Tune's state and
ends the command non-zero with the line that resumes it; the trials it cut off are recorded as
interrupted, and the parent run stays open until the sweep is done.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import ray
from ray import tune

from ganime_core.errors import GanimeError
from ganime_core.metrics import names
from orchestration.interrupts import sigterm_as_sigint
from orchestration.jobs.storage import storage_root
from orchestration.ray_internals import CHECKPOINTS_KEPT
from orchestration.sweep import search
from orchestration.sweep.callbacks import ProgressTable, TrialOutcomes
from orchestration.sweep.importance import (
    Importance,
    NoImportance,
    parameter_importance,
    plot_importance,
)
from orchestration.sweep.lineage import load_trial_record
from orchestration.sweep.plan import plan_sweep
from orchestration.sweep.spec import Sweep
from orchestration.sweep.storage import save_sweep, sweep_exists
from orchestration.sweep.summary import (
    RESULT_RUN_ID,
    SweepOutcome,
    TrialRow,
    best_evaluation,
    front_rows,
    last_evaluation,
    markdown_table,
    note,
    pick_best,
    pick_rule_line,
    plot_front,
    plot_metric,
    tally,
    trial_outcome,
    write_trials_csv,
)
from orchestration.sweep.trainable import (
    TrialContext,
    trainable,
    trial_dirname,
    trial_name,
    trial_of_folder,
)
from orchestration.tracking.runs import experiment_id, tracking_uri
from orchestration.tracking.sweeps import (
    close_trial_run,
    find_trial_run,
    log_sweep_summary,
    open_parent_run,
)
from orchestration.training.ray_train import failure_reason, reachable_from_workers

log = logging.getLogger(__name__)


class SweepInterrupted(GanimeError):
    """The driver was interrupted; the sweep continues with `ganime sweep --resume NAME`."""

    exit_code = 130


def run_sweep(
    sweep: Sweep,
    *,
    address: str | None = None,
    storage: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> SweepOutcome:
    """Run (or, with resume=True, continue) `sweep`; log it to MLflow; return its trials.
    Raises SweepInterrupted if it was interrupted before every trial ended."""
    root = storage_root(storage)
    if not resume and sweep_exists(sweep.name, root):
        raise GanimeError(
            f"sweep {sweep.name!r} already ran in {root}: ganime sweep --resume {sweep.name} "
            f"continues it (or shows its result); --set name=... starts another"
        )
    uri = tracking_uri()
    parent_run_id = open_parent_run(  # fails before Ray starts if the server is unreachable
        uri,
        sweep.name,
        job=f"{root}/{sweep.name}",
        family=sweep.base.model.family,
        params=_parent_params(sweep),
        source="ganime sweep",
    )
    if not ray.is_initialized():
        # The live table is the sweep's console; workers' logs stay in Ray's session folder.
        ray.init(address=address, log_to_driver=False)
    plan = plan_sweep(sweep, ray.cluster_resources(), "Ray cluster")
    if plan.at_once == 0 and address is None and not os.environ.get("RAY_ADDRESS"):
        raise GanimeError(
            f"a trial needs {plan.trial_cpus} CPU and {plan.trial_gpus} GPU but local Ray has "
            f"{plan.cluster_cpus:g} CPU and {plan.cluster_gpus:g} GPU; lower trial.workers or "
            "trial.cpus_per_worker"
        )
    save_sweep(sweep, root, parent_run_id)
    context = TrialContext(sweep, root, reachable_from_workers(uri), parent_run_id)
    callbacks: list[Any] = [TrialOutcomes(uri, sweep)]
    if progress:
        callbacks.append(ProgressTable(sweep))
    experiment_path = f"{root}/{sweep.name}"
    if resume:
        log.info("resuming sweep %s from %s", sweep.name, experiment_path)
        tuner = tune.Tuner.restore(experiment_path, trainable=trainable(context))
    else:
        several = sweep.multi_objective  # then the searcher holds the metrics
        at_once = max(plan.at_once, 1)
        tuner = tune.Tuner(
            trainable(context),
            param_space=search.search_space(sweep.config),
            tune_config=tune.TuneConfig(
                metric=None if several else sweep.metric_key,
                mode=None if several else sweep.config.objective_mode,
                search_alg=search.searcher(sweep, at_once),
                scheduler=search.scheduler(sweep.config),
                num_samples=search.tune_samples(sweep.config),
                max_concurrent_trials=(
                    None if search.searcher_limits_concurrency(sweep.config) else at_once
                ),
                # The next trial runs in a finished trial's actor: TensorFlow and the backbone
                # are loaded once per actor (in-process trials; a Ray Train trial's actor only
                # drives its run).
                reuse_actors=sweep.config.trial.workers == 1,
                trial_name_creator=trial_name,
                trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=sweep.name,
                storage_path=root,
                callbacks=callbacks,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
                checkpoint_config=_checkpoints(),
            ),
        )
    # Tune's own console output (its configuration box, a TensorBoard hint) would interleave
    # with the live table; its legacy reporter honours verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune snapshots its state after every trial checkpoint (num_to_keep) and warns about it; at a
    # step per evaluation the snapshots are what `--resume` needs, not a bottleneck.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    with sigterm_as_sigint(), warnings.catch_warnings():
        # Ray suggests reuse_actors to PBT sweeps; a Ray Train trial's actor only drives its
        # run (each run gets new workers), so there is nothing to reuse.
        warnings.filterwarnings("ignore", message="Consider boosting PBT performance")
        results = tuner.fit()
    return _summarize(sweep, root, uri, parent_run_id, list(results))


def _parent_params(sweep: Sweep) -> dict[str, Any]:
    """What the parent run shows of the sweep: search space, sampler, scheduler, resources."""
    config = sweep.config
    params: dict[str, Any] = {
        "experiment": str(config.experiment),
        "num_samples": config.num_samples,
        **search.parent_params(sweep),
        "trial_resources": (
            f"{config.trial.workers} workers x ({config.trial.cpus_per_worker} CPU, "
            f"{config.trial.gpus_per_worker} GPU)"
        ),
        "max_concurrent_trials": config.max_concurrent_trials or "cluster",
    }
    params.update({f"search.{key}": str(dimension) for key, dimension in config.search.items()})
    return params


def _checkpoints() -> tune.CheckpointConfig:
    """A trial's step ends at an evaluated epoch; its Tune checkpoint after each step is where
    a resumed trial continues (an in-process trial's epoch checkpoint; a Ray Train trial's
    last result, beside the checkpoints its Train run persists itself). How many are kept:
    ray_internals.StateSavedBeforeCheckpointsGo."""
    return tune.CheckpointConfig(checkpoint_frequency=1, num_to_keep=CHECKPOINTS_KEPT)


def _summarize(
    sweep: Sweep, root: str, uri: str, parent_run_id: str, results: list[Any]
) -> SweepOutcome:
    """One row per trial from Tune's results; trials an interrupt cut off marked as such; the
    summary on the parent run, which ends only when every trial has."""
    rows = sorted(
        (_trial_row(sweep, root, uri, result) for result in results), key=lambda r: r.trial
    )
    interrupted = [row for row in rows if not row.ended]
    for row in interrupted:
        if row.run_id:
            close_trial_run(uri, row.run_id, row.stop_reason, row.status)
    unfinished = bool(interrupted) or len(rows) < sweep.config.num_samples
    best = pick_best(sweep, rows)
    with tempfile.TemporaryDirectory(prefix="ganime-sweep-") as folder:
        out = Path(folder)
        write_trials_csv(rows, out / "trials.csv")
        (out / "trials.md").write_text(markdown_table(rows))
        files = [out / "trials.csv", out / "trials.md"]
        plot = out / f"{sweep.metric_key}_vs_params.png"
        if plot_metric(sweep, rows, plot):
            files.append(plot)
        if sweep.multi_objective:
            front = front_rows(sweep, rows)
            write_trials_csv(front, out / "pareto_front.csv")
            (out / "pareto_front.md").write_text(markdown_table(front))
            files += [out / "pareto_front.csv", out / "pareto_front.md"]
            if plot_front(sweep, rows, best, out / "pareto_front.png"):
                files.append(out / "pareto_front.png")
        importances = _importances(sweep, rows, out) if not unfinished else []
        files += [
            out / f"importance_{i.metric}.png" for i in importances if isinstance(i, Importance)
        ]
        lines = [importance.line() for importance in importances]
        log_sweep_summary(
            uri,
            parent_run_id,
            files=files,
            note=note(sweep, rows, best, tuple(lines)),
            best_params={key: best.params[key] for key in sweep.config.search} if best else {},
            best_metrics={
                **{
                    names.best_name(name): best.metrics[name]
                    for name in names.siblings(sweep.metric_key)
                    if best and name in best.metrics
                },
                **{
                    f"importance.{key}": share
                    for i in importances
                    if isinstance(i, Importance) and i.metric == sweep.metric_key
                    for key, share in i.shares.items()
                },
            },
            best_trial=(best.trial, best.run_id) if best else None,
            pick_rule=pick_rule_line(sweep) if sweep.multi_objective else None,
            status=None if unfinished else ("FINISHED" if best is not None else "FAILED"),
        )
    outcome = SweepOutcome(
        parent_run_id,
        experiment_id(uri, sweep.name),
        rows,
        best,
        interrupted=unfinished,
        importance=lines,
    )
    if unfinished:
        raise SweepInterrupted(
            f"sweep {sweep.name} interrupted after {len(rows)} of {sweep.config.num_samples} "
            f"trials started ({tally(rows)}); ganime sweep --resume {sweep.name} continues it"
        )
    return outcome


def _importances(sweep: Sweep, rows: list[TrialRow], out: Path) -> list[Importance | NoImportance]:
    """The parameter importance of each of the sweep's metrics, its chart in `out`."""
    points = [(row.params, row.metrics) for row in rows]
    found = []
    for key in sweep.metric_keys:
        importance = parameter_importance(sweep, points, key)
        if isinstance(importance, Importance):
            plot_importance(sweep, importance, out / f"importance_{key}.png")
        found.append(importance)
    return found


def _trial_row(sweep: Sweep, root: str, uri: str, result: Any) -> TrialRow:
    number, trial_id = trial_of_folder(Path(result.path).name)
    history = []
    if result.metrics_dataframe is not None:
        history = result.metrics_dataframe.to_dict("records")
    last = result.metrics or {}
    error = failure_reason(result.error) if result.error else None
    ended = bool(last.get("done")) or error is not None
    epochs = int(last.get(names.EPOCH, 0) or 0)
    reason, status = trial_outcome(epochs, sweep.config, error, ended)
    if sweep.multi_objective:  # a trial's point on the front: where it ended
        best_epoch, best_metrics = last_evaluation(history, sweep.metric_keys)
    else:
        best_epoch, best_metrics = best_evaluation(history, sweep.metric_key)
    record = (
        load_trial_record(root, sweep.name, trial_id) if sweep.config.scheduler == "pbt" else None
    )
    return TrialRow(
        trial=number,
        trial_id=trial_id,
        params={key: result.config.get(key) for key in sweep.config.search},
        epochs=epochs,
        status=status,
        stop_reason=reason,
        run_id=last.get(RESULT_RUN_ID) or find_trial_run(uri, sweep.name, trial_id) or "",
        best_epoch=best_epoch,
        metrics=best_metrics,
        ended=ended,
        schedule=record.schedule() if record and record.exploits else "",
    )
