"""Training in this process: `ganime train` without `--workers`, and a 1-worker sweep trial
inside its Tune actor. The run is recorded in MLflow exactly as a Ray Train run is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from ganime_core.checkpoint import Best, Inheritance
from ganime_core.config import ExperimentConfig
from ganime_core.evaluation import EvaluationCache
from ganime_core.families.base import ModelFamily
from ganime_core.metrics import names
from ganime_core.train import EpochReport, TrainingRun, configure_process
from orchestration.tracking.runs import open_run, tracking_uri
from orchestration.tracking.sink import MlflowSink
from orchestration.training.summary import run_summary

RUNNER = "local"


class TrialProcess:
    """What a process that trains one run after another (a reused sweep actor) keeps between
    runs: TensorFlow configured once, and the backbones and reference features it loaded;
    `next_run` drops the previous run's graphs."""

    def __init__(self, cpus: int) -> None:
        configure_process(cpus)
        self.evaluations = EvaluationCache()

    def next_run(self) -> None:
        keras.backend.clear_session()  # the last run's graphs and Keras name scopes


class LocalTraining:
    """A TrainingRun of `config` in this process whose reports go to MLflow run `run_id`."""

    def __init__(
        self,
        config: ExperimentConfig,
        uri: str,
        run_id: str,
        *,
        cache: EvaluationCache | None = None,
        progress: bool = True,
        resume_from: Path | None = None,
        inherit: Inheritance | None = None,
    ) -> None:
        self.config = config
        self.run = TrainingRun(
            config, progress=progress, cache=cache, resume_from=resume_from, inherit=inherit
        )
        self.sink = MlflowSink(config, uri, run_id, runner=RUNNER)
        self.sink.start(self.run.data, self.run.input_example())
        self.sink.catch_up(self.run.restored_epochs, self.run.family)
        self.last: EpochReport | None = None

    @property
    def finished(self) -> bool:
        return self.run.finished

    @property
    def family(self) -> ModelFamily:
        return self.run.family

    def epoch(self) -> EpochReport:
        """Train, record and return the next epoch."""
        self.last = self.run.run_epoch()
        self.sink.record(self.last, self.run.family)
        return self.last

    def until_evaluation(self) -> EpochReport | None:
        """Train epochs up to and including the next evaluated one (or the last); None if the
        run had nothing left to train."""
        report = None
        while not self.finished:
            report = self.epoch()
            if report.evaluation is not None:
                break
        return report

    def metrics(self) -> dict[str, Any]:
        """The last epoch's metrics as reported to Tune and printed by `ganime train`."""
        metrics: dict[str, Any] = {
            names.EPOCH: self.run.epochs_done,
            names.RESUMED_FROM: self.run.resumed_from,
        }
        if self.last is not None:
            metrics.update(self.last.metrics())
        return metrics

    def close(self, status: str) -> None:
        self.sink.close(status)


def inheritance(checkpoint: Path, best: dict[str, Any] | None) -> Inheritance:
    """Another run's epoch checkpoint for a run to go on from, keeping the run's own best (as
    a sweep trial's record holds it)."""
    return Inheritance(checkpoint, Best(**best) if best else None)


def train_locally(config: ExperimentConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train `config` here, tracked in MLflow; return `ganime train`'s JSON summary. A run whose
    folder holds checkpoints resumes from the newest, in the same MLflow run."""
    uri = tracking_uri()
    run_id = open_run(config, uri, job=str(config.run_dir.resolve()))  # fails before training
    training = LocalTraining(config, uri, run_id, progress=progress)
    try:
        while not training.finished:
            training.epoch()
    except KeyboardInterrupt:
        training.close("KILLED")
        raise
    except BaseException:
        training.close("FAILED")
        raise
    training.close("FINISHED")
    latest = training.run.checkpointer.latest()
    return run_summary(
        runner=RUNNER,
        workers=1,
        metrics=training.metrics(),
        checkpoint=str(latest) if latest else None,
        mlflow_run_id=run_id,
    )
