"""MLflow runs: where the store is, opening (or finding again) a job's run, and a logger that
retries and never lets a tracking error stop training.

A run is opened by the driver before anything trains, so an unreachable tracking server is one
clear error, not a crash inside a worker. A job that runs again (a resumed run, a restarted
trial) finds its run by the job tag instead of opening another.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from ganime_core.config import ExperimentConfig
from ganime_core.errors import GanimeError
from orchestration.tracking import tags

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, or the embedded default (a SQLite file in the working folder)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # Workers run in other folders: pin a relative SQLite path to this one.
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


# MLflow 3.17's UI opens experiments in its GenAI view unless told otherwise (a sidebar switch,
# kept in the browser; it ignores the experiment's kind tag): links ask for the training view.
TRAINING_VIEW = "workflowType=machine_learning"


def browse_hint(where: str) -> str:
    """How to open `where` (a UI route, e.g. #/models/NAME) of the tracking store: its URL for a
    server, else the `mlflow ui` command that serves the store and the URL to open."""
    if where.startswith("#/experiments"):
        where = f"{where}?{TRAINING_VIEW}"
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{where}"
    # The mlflow next to this Python: the venv's, which need not be on PATH.
    mlflow = Path(sys.executable).with_name("mlflow")
    return (
        f"{mlflow if mlflow.exists() else 'mlflow'} ui --backend-store-uri {uri} --port 5000, "
        f"then open http://127.0.0.1:5000/{where}"
    )


@contextmanager
def _fail_fast():
    """One quick attempt instead of MLflow's minutes of HTTP retries, for the start-up check."""
    saved = {
        k: os.environ.get(k)
        for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    }
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_run(
    config: ExperimentConfig,
    uri: str,
    job: str,
    *,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> str:
    """The MLflow run of this training job, in the experiment named after the config: found by
    its job tag if the job ran before, else created with every config value as a param. A
    sweep's trials pass their sweep's run as `parent_run_id`. Raises one-line GanimeError if
    the tracking server is unreachable."""
    return find_or_create_run(
        uri,
        config.name,
        job,
        params=config.flat(),
        run_tags={
            tags.FAMILY: config.model.family,
            tags.GIT_COMMIT: git_commit(),
            tags.SOURCE_NAME: "ganime train",
            **(extra_tags or {}),
        },
        run_name=run_name or f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        parent_run_id=parent_run_id,
    )


def find_or_create_run(
    uri: str,
    experiment: str,
    job: str,
    *,
    params: dict[str, Any],
    run_tags: dict[str, str],
    run_name: str,
    parent_run_id: str | None = None,
) -> str:
    """The run tagged `job` in `experiment` (set RUNNING again), or a new one with these params
    and tags; nested under `parent_run_id` if given."""
    client = MlflowClient(uri)
    try:
        with _fail_fast():
            experiment_id = training_experiment(client, experiment)
            runs = client.search_runs(
                [experiment_id], filter_string=f"tags.`{tags.JOB}` = '{job}'", max_results=1
            )
    except Exception as exc:  # connection refused, DNS, HTTP errors, bad database URL ...
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise GanimeError(
            f"MLflow tracking server {uri} is unreachable ({reason}); start it, or set "
            "MLFLOW_TRACKING_URI (unset = sqlite:///mlflow.db)"
        ) from None
    if runs:
        run_id = runs[0].info.run_id
        log.info("MLflow: resuming run %s", run_id)
        client.update_run(run_id, status="RUNNING")
        return run_id
    all_tags = {tags.JOB: job, **run_tags}
    if parent_run_id:
        all_tags[tags.PARENT_RUN] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    batch = [Param(k, str(v)) for k, v in params.items()]
    for start in range(0, len(batch), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=batch[start : start + 100])
    return run.info.run_id


def training_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if needed, tagged so that MLflow's UI opens it in
    its training-runs view."""
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(
            name, tags={tags.EXPERIMENT_KIND: tags.EXPERIMENT_KIND_TRAINING}
        )
    if tags.EXPERIMENT_KIND not in found.tags:  # made by an older GANime, or by hand
        client.set_experiment_tag(
            found.experiment_id, tags.EXPERIMENT_KIND, tags.EXPERIMENT_KIND_TRAINING
        )
    return found.experiment_id


def experiment_id(uri: str, name: str) -> str:
    """The id of the existing experiment `name`."""
    return MlflowClient(uri).get_experiment_by_name(name).experiment_id


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class RunLogger:
    """Writes to one run: every call retried with backoff, then skipped with a warning."""

    def __init__(self, uri: str, run_id: str, attempts: int = 4, backoff_seconds: float = 1.0):
        self.client = MlflowClient(uri)
        self.uri = uri
        self.run_id = run_id
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    def retrying(self, what: str, action: Callable[[], T]) -> T | None:
        """Run `action`; on an error retry with backoff, then warn and go on without it."""
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except Exception as exc:  # any tracking failure; training must go on
                if attempt == self.attempts:
                    log.warning("MLflow: %s failed %d times, skipped (%s)", what, attempt, exc)
                    return None
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return None

    def log_batch(
        self,
        what: str,
        metrics: dict[str, float] | None = None,
        step: int = 0,
        run_tags: dict[str, str] | None = None,
    ) -> None:
        now = int(time.time() * 1000)
        batch = {
            "metrics": [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            "tags": [RunTag(k, str(v)) for k, v in (run_tags or {}).items()],
        }
        self.retrying(what, lambda: self.client.log_batch(self.run_id, **batch))

    def set_status(self, status: str) -> None:
        """RUNNING, or a terminal status: FINISHED, FAILED, KILLED."""
        if status == "RUNNING":
            self.retrying("status", lambda: self.client.update_run(self.run_id, status=status))
        else:
            self.retrying("end run", lambda: self.client.set_terminated(self.run_id, status))

    def finish(self, status: str = "FINISHED") -> None:
        self.set_status(status)
