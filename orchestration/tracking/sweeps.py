"""A sweep in MLflow: one experiment named after it, a parent run for the sweep, one nested
child run per trial. The sweep code decides what happened (stop reasons, the best trial); this
module writes it down."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Param

from ganime_core.config import ExperimentConfig
from ganime_core.metrics import names
from orchestration.tracking import tags
from orchestration.tracking.runs import RunLogger, find_or_create_run, git_commit, open_run


def open_parent_run(
    uri: str, sweep: str, job: str, family: str, params: dict[str, Any], source: str
) -> str:
    """The sweep's parent run: found again by `job` (its storage) on a resume."""
    return find_or_create_run(
        uri,
        sweep,
        job,
        params=params,
        run_tags={
            tags.SWEEP: sweep,
            tags.FAMILY: family,
            tags.GIT_COMMIT: git_commit(),
            tags.SOURCE_NAME: source,
        },
        run_name=f"{sweep}-sweep-{time.strftime('%Y%m%d-%H%M%S')}",
    )


def open_trial_run(
    config: ExperimentConfig,
    uri: str,
    *,
    job: str,
    run_name: str,
    parent_run_id: str,
    sweep: str,
    trial_id: str,
    trial_number: int,
) -> str:
    """A trial's child run, found again by `job` when the trial is restored or re-created;
    tagged with the Tune trial it belongs to now."""
    run_id = open_run(
        config,
        uri,
        job=job,
        run_name=run_name,
        parent_run_id=parent_run_id,
        extra_tags={tags.SWEEP: sweep, tags.TRIAL_NUMBER: str(trial_number)},
    )
    RunLogger(uri, run_id).log_batch("trial id", run_tags={tags.TRIAL_ID: trial_id})
    return run_id


LINEAGE_ARTIFACT = "pbt/lineage.json"


def log_exploit(uri: str, run_id: str, *, lineage: list[dict[str, Any]], schedule: str) -> None:
    """A PBT exploit on the trial's run that took it: every exploit so far as
    pbt/lineage.json (from which trial, at which epoch, values before and after, the state's
    digest), and the schedule as a tag the runs table can show."""
    logger = RunLogger(uri, run_id)
    with tempfile.TemporaryDirectory(prefix="ganime-lineage-") as folder:
        path = Path(folder) / Path(LINEAGE_ARTIFACT).name
        path.write_text(json.dumps(lineage, indent=2))
        logger.retrying(
            "pbt lineage",
            lambda: logger.client.log_artifact(
                run_id, str(path), Path(LINEAGE_ARTIFACT).parent.name
            ),
        )
    logger.log_batch(
        "pbt exploit", run_tags={tags.SCHEDULE: schedule, tags.EXPLOITS: str(len(lineage))}
    )


def log_schedule_values(uri: str, run_id: str, values: dict[str, float], epoch: int) -> None:
    """A PBT trial's numeric searched values at `epoch` as `schedule.<key>` metrics: the UI
    charts each trial's schedule beside its losses. Once per epoch, judged by what the run
    holds (they are logged in one batch): an epoch trained again after a kill, whether or not
    the killed process got to log it, has one point."""
    metrics = {f"schedule.{key}": float(value) for key, value in values.items()}
    logger = RunLogger(uri, run_id)
    first = next(iter(metrics))
    history = logger.retrying(
        f"epoch {epoch} schedule read", lambda: logger.client.get_metric_history(run_id, first)
    )
    if any(point.step == epoch for point in history or []):
        return
    logger.log_batch(f"epoch {epoch} schedule", metrics, step=epoch)


def close_trial_run(
    uri: str, run_id: str, reason: str, status: str, seconds: float | None = None
) -> None:
    """Record why a trial's run ended and its status; a later end (a resumed trial) replaces
    an earlier one."""
    logger = RunLogger(uri, run_id)
    metrics = {} if seconds is None else {names.TRIAL_SECONDS: seconds}
    logger.log_batch("trial outcome", metrics, run_tags={tags.STOP_REASON: reason})
    logger.set_status(status)


def log_sweep_summary(
    uri: str,
    parent_run_id: str,
    *,
    files: list[Path],
    note: str,
    best_params: dict[str, Any],
    best_metrics: dict[str, float],
    best_trial: tuple[int, str] | None,
    status: str | None,
    pick_rule: str | None = None,
) -> None:
    """The sweep's result on its parent run: artifacts, the best trial's params (`best.*`) and
    metrics (`best_*`), a description with the trial table; `status` None leaves it RUNNING
    (an interrupted sweep is not finished)."""
    logger = RunLogger(uri, parent_run_id)
    client = logger.client
    for file in files:
        logger.retrying(
            f"sweep {file.name}", lambda f=file: client.log_artifact(parent_run_id, str(f))
        )
    run_tags = {tags.RUN_NOTE: note}
    if pick_rule is not None:
        run_tags[tags.PICK_RULE] = pick_rule
    if best_trial is not None:
        run_tags[tags.BEST_TRIAL] = str(best_trial[0])
        run_tags[tags.BEST_TRIAL_RUN_ID] = best_trial[1]
    logger.log_batch("best trial", best_metrics, run_tags=run_tags)
    if status is None:
        return
    # Params are written once, so only a finished sweep names its best trial's values (run
    # again, it writes the same ones, which MLflow accepts).
    params = [Param(f"best.{key}", str(value)) for key, value in best_params.items()]
    if params:
        logger.retrying("best params", lambda: client.log_batch(parent_run_id, params=params))
    logger.set_status(status)


def find_trial_run(uri: str, sweep: str, trial_id: str) -> str | None:
    """The child run of a trial that never reported a result (it failed in its first epoch)."""
    client = RunLogger(uri, "").client
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tags.SWEEP}` = '{sweep}' and tags.`{tags.TRIAL_ID}` = '{trial_id}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None
