"""MLflow tracking of a training job: one run, logged by rank 0 only.

The driver opens (or, for a resumed job, finds) the run before any worker starts, so an
unreachable tracking server is one clear error, not a crash inside a worker. Rank 0 then logs
each epoch's losses, the evaluations and sample grids, and the best and final generator as
MLflow models. Epochs are logged once Ray holds a checkpoint that covers them, and an epoch the
run already holds is never logged again: a restarted job retrains from its last checkpoint, and
no epoch appears twice. A transient tracking error is retried, then
logged as a warning: tracking never stops training.
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

from ganime_core.config import ExperimentConfig
from ganime_core.errors import GanimeError

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
JOB_TAG = "ganime.job"  # storage/name of the Ray Train run: the same job resumes the same run
EPOCH_METRIC = "epoch"  # logged with every epoch: which epochs the run already holds
REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, or the embedded default (a SQLite file in the working folder)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # Workers run in other folders: pin a relative SQLite path to this one.
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def browse_hint(where: str) -> str:
    """How to open `where` (a UI route, e.g. #/models/NAME) of the tracking store: its URL for a
    server, else the `mlflow ui` command that serves the store and the URL to open."""
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
    tags: dict[str, str] | None = None,
) -> str:
    """The MLflow run of this training job, in the experiment named after the config: found by
    its job tag if the job ran before, else created with every config value as a param. A
    sweep's trials pass their sweep's run as `parent_run_id`. Raises one-line GanimeError if
    the tracking server is unreachable."""
    import mlflow

    return find_or_create_run(
        uri,
        config.name,
        job,
        params=config.flat(),
        tags={
            "ganime.family": config.model.family,
            "ganime.git_commit": git_commit(),
            mlflow.utils.mlflow_tags.MLFLOW_SOURCE_NAME: "ganime train",
            **(tags or {}),
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
    tags: dict[str, str],
    run_name: str,
    parent_run_id: str | None = None,
) -> str:
    """The run tagged `job` in `experiment` (set RUNNING again), or a new one with these params
    and tags; nested under `parent_run_id` if given."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    try:
        with _fail_fast():
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else client.create_experiment(experiment)
            runs = client.search_runs(
                [experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{job}'", max_results=1
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
    all_tags = {JOB_TAG: job, **tags}
    if parent_run_id:
        all_tags[mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    batch = [mlflow.entities.Param(k, str(v)) for k, v in params.items()]
    for start in range(0, len(batch), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=batch[start : start + 100])
    return run.info.run_id


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class RunLogger:
    """Rank 0's side: buffers epochs until a checkpoint covers them, then logs them."""

    def __init__(self, uri: str, run_id: str, attempts: int = 4, backoff_seconds: float = 1.0):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(uri)
        self.uri = uri
        self.run_id = run_id
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.pending: list[tuple[int, dict[str, float], Path | None]] = []
        self._logged: set[int] | None = None  # read at the first commit, see logged_epochs()

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

    def epoch(self, epoch: int, metrics: dict[str, float], sample_grid: Path | None) -> None:
        self.pending.append((epoch, metrics, sample_grid))

    def logged_epochs(self) -> set[int]:
        """Epochs already in the run, e.g. logged just before a worker died and its checkpoint
        was lost: the retrained epoch is not logged again. Read once, then kept up to date."""
        if self._logged is None:
            history = self.retrying(
                "read logged epochs",
                lambda: self.client.get_metric_history(self.run_id, EPOCH_METRIC),
            )
            self._logged = {int(m.step) for m in history or []}
        return self._logged

    def commit(self) -> None:
        """A checkpoint now covers the pending epochs: log them."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        logged = self.logged_epochs()
        for epoch, metrics, grid in self.pending:
            if epoch in logged:
                continue
            values = {**metrics, EPOCH_METRIC: epoch}
            batch = [Metric(k, float(v), now, epoch) for k, v in values.items()]
            self.retrying(
                f"epoch {epoch} metrics",
                lambda b=batch: self.client.log_batch(self.run_id, metrics=b),
            )
            if grid is not None:
                self.retrying(
                    f"epoch {epoch} sample grid",
                    lambda g=grid: self.client.log_artifact(self.run_id, str(g), "samples"),
                )
            logged.add(epoch)
        self.pending.clear()

    def latest(self, metric: str) -> float | None:
        """The last logged value of `metric`, also from before a restart; None if never logged."""
        run = self.retrying("read run", lambda: self.client.get_run(self.run_id))
        return None if run is None else run.data.metrics.get(metric)

    def log_model(self, generator: Any, config: ExperimentConfig, name: str, example: Any) -> None:
        import mlflow

        from orchestration.model import log_generator_model

        def log() -> None:
            mlflow.set_tracking_uri(self.uri)
            with mlflow.start_run(run_id=self.run_id):
                log_generator_model(generator, config, name, example)
            # Leaving the fluent run marks it FINISHED, but the job is still going; the driver
            # sets the final status.
            self.client.update_run(self.run_id, status="RUNNING")

        self.retrying(f"model {name}", log)

    def finish(self, status: str = "FINISHED") -> None:
        self.retrying("end run", lambda: self.client.set_terminated(self.run_id, status))


class TrainingTracker:
    """Rank 0's epoch callback: epoch metrics, evaluations at checkpoints, best/final models."""

    def __init__(self, config: ExperimentConfig, uri: str, run_id: str) -> None:
        from ganime_core.data.pipeline import TrainingData

        self.config = config
        self.logger = RunLogger(uri, run_id)
        self.data = TrainingData(config)  # scan results are cached: cheap after the first
        self.logger.retrying(
            "data hash tag",
            lambda: self.logger.client.set_tag(run_id, "ganime.data_hash", self.data.content_hash),
        )
        self._evaluator = None
        self._best_improved = False
        self._example = None

    def evaluate(self, report: Any, family: Any) -> dict[str, float]:
        """FID/KID/SSIM at this epoch if it is an evaluation epoch (always a checkpoint epoch),
        for Ray's report as well as MLflow."""
        if report.checkpoint is None or not self._evaluates(report.epoch):
            return {}
        return self._evaluate(family)

    def record(self, report: Any, family: Any, evaluation: dict[str, float]) -> None:
        """Log the epoch, once Ray holds its checkpoint (called after ray.train.report): an
        epoch that a restart would train again is not logged yet."""
        metrics = {
            **report.losses,
            "images_per_second": report.images_per_second,
            "epoch_seconds": report.seconds,
            **evaluation,
        }
        self.logger.epoch(report.epoch, metrics, report.sample_grid)
        if report.checkpoint is None:
            return
        self.logger.commit()
        if self._best_improved:
            self._log_generator(family, "best_generator")
            self._best_improved = False
        if report.epoch == self.config.train.epochs:
            self._log_generator(family, "final_generator")

    def _evaluates(self, epoch: int) -> bool:
        every = self.config.train.eval_every
        return every > 0 and (epoch % every == 0 or epoch == self.config.train.epochs)

    def _evaluate(self, family: Any) -> dict[str, float]:
        from ganime_core.evaluation import Evaluator

        started = time.perf_counter()
        if self._evaluator is None:
            self._evaluator = Evaluator(self.config, self.data)
        result = self._evaluator.evaluate(family.generate)
        metrics = result.metrics()
        metrics["eval_seconds"] = time.perf_counter() - started  # the first includes the backbone
        best_name = f"best_fid{result.metric_suffix}"
        best = self.logger.latest(best_name)
        if best is None or result.fid < best:
            best = result.fid
            self._best_improved = True
        metrics[best_name] = best
        return metrics

    def _log_generator(self, family: Any, name: str) -> None:
        """Log the generator with one validation sketch (uint8) as its input example."""
        from ganime_core.data.pipeline import to_uint8

        if self._example is None:  # read once: every logged model gets the same example
            batch = next(iter(self.data.eval_dataset("val", batch_size=1)))
            self._example = to_uint8(batch["sketch"]).numpy()[0]
        self.logger.log_model(family.generator, self.config, name, self._example)
