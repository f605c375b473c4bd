"""One method at one seed, as a Ray task: train it (a method that trains), then measure it under
the compare's protocol and record the result in its MLflow run.

- 1 worker: trains in the task's process (the local runner, `LocalTraining`), resuming from
  the newest checkpoint of its run folder, so a compare killed mid-run continues it.
- N workers: the task drives a Ray Train run (the runner `ganime train --workers N` uses), which
  resumes from its storage; the final checkpoint is then measured in a task of one worker's
  resources (a GPU on a GPU cluster).
- A method that trains nothing (NST, Fast NST): measured in `shards` Ray tasks, as
  `ganime evaluate --workers N` does.

Every run is measured the same way: `Evaluator(config, split).measure`, then `score`; the same
held-out rows, references (drawn from the seed) and backbone for every method. Then its FID,
KID and SSIM are recomputed on `evaluation.bootstrap_replicates` resamples of those images
(ganime_core.metrics.bootstrap), the same resamples for every run, into its result. Ray reuses a
worker process for later tasks, so TensorFlow is imported, and InceptionV3 built, once per
process (`_process`).

The driver imports this module; TensorFlow is imported inside the tasks only.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.train import TrainingFailedError

from ganime_core.config import ExperimentConfig
from ganime_core.errors import GanimeError, last_line
from ganime_core.families import build_colorizer
from ganime_core.metrics import names
from ganime_core.metrics.bootstrap import RESAMPLE_SEED, bootstrap_replicates
from orchestration.compare.spec import EvaluationProtocol
from orchestration.compare.table import OBJECTIVES, RunResult
from orchestration.jobs.spec import TrialResources
from orchestration.release.shards import ShardResources, measure_on_ray
from orchestration.tracking.compares import record_failure, record_result
from orchestration.tracking.evaluations import record_method_evaluation
from orchestration.training.ray_train import Scaling, failure_reason, make_trainer

_PROCESS: Any = None  # this worker process's TrialProcess: TensorFlow set up, backbones built


@dataclass(frozen=True)
class MethodWork:
    """What one run's task needs, from the driver (it crosses to a Ray task)."""

    method: str
    seed: int
    key: str  # spec.MethodRun.key: the run's config and the protocol, hashed
    config: ExperimentConfig  # the method's, at this seed
    evaluation: EvaluationProtocol  # the compare's protocol
    trial: TrialResources
    tracking_uri: str  # reachable from the workers
    run_id: str  # the run's MLflow run, opened by the driver
    output_dir: str  # a 1-worker run's checkpoints
    ray_storage: str  # an N-worker run's Ray Train storage
    job_name: str  # its Ray Train run's name
    shards: int  # Ray tasks a method that trains nothing is measured in


@dataclass(frozen=True)
class RunFailure:
    """A run that failed, and why in one line (its MLflow run says so too)."""

    reason: str


@dataclass(frozen=True)
class Training:
    """What training a run did, for its result (nothing for a method that trains nothing)."""

    epochs: int | None = None
    resumed_from: int | None = None
    train_step_seconds: float | None = None
    images_per_second: float | None = None


def _process(cpus: int) -> Any:
    global _PROCESS
    from orchestration.training.local import TrialProcess

    if _PROCESS is None:
        _PROCESS = TrialProcess(cpus)
    else:
        _PROCESS.next_run()  # the previous task's graphs go
    return _PROCESS


@ray.remote(max_retries=0)
def run_method(work: MethodWork) -> RunResult | RunFailure:
    """Train (if it trains) and measure one run; returns its result, or why it failed (its
    MLflow run then says so). A cancelled task (an interrupted compare) leaves its run
    RUNNING, to be continued."""
    config = work.config
    try:
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)
        started = time.perf_counter()
        if not config.model.trainable:
            result = _measure(work, config, None, Training(), _process(cpus))
        elif work.trial.workers == 1:
            process = _process(cpus)
            colorizer, trained = _train_here(work, config, process)
            result = _measure(work, config, colorizer, trained, process)
        else:
            checkpoint, trained = _train_on_ray_train(work, config)
            trial = work.trial
            measure = measure_checkpoint.options(
                num_cpus=trial.cpus_per_worker, num_gpus=trial.gpus_per_worker
            )
            result = ray.get(measure.remote(work, checkpoint, trained))
        return dataclasses.replace(result, seconds=time.perf_counter() - started)
    except Exception as exc:  # a data error, a NaN loss, missing weights: the run fails alone
        reason = _reason(exc)
        record_failure(work.tracking_uri, work.run_id, reason)
        return RunFailure(reason)


@ray.remote(max_retries=0)
def measure_checkpoint(work: MethodWork, checkpoint: Any, trained: Training) -> RunResult:
    """A Ray Train run's final checkpoint (a ray.train.Checkpoint: a folder, or a URI in cloud
    storage), measured where a worker would run."""
    from ganime_core.checkpoint import open_checkpoint

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)
    process = _process(cpus)
    config = work.config
    with checkpoint.as_directory() as folder:
        _, family, _ = open_checkpoint(Path(folder))
        colorizer = family.colorizer()
    return _measure(work, config, colorizer, trained, process)


def _train_here(work: MethodWork, config: ExperimentConfig, process: Any) -> tuple[Any, Training]:
    from orchestration.training.local import LocalTraining

    config = config.replace({"train.output_dir": work.output_dir})
    training = LocalTraining(
        config, work.tracking_uri, work.run_id, cache=process.evaluations, progress=False
    )
    try:
        seconds, images_per_second = 0.0, 0.0
        while not training.finished:
            report = training.epoch()
            seconds += report.seconds
            images_per_second = report.images_per_second
    finally:
        training.close(None)  # the run ends once it is measured
    trained = Training(
        epochs=training.run.epochs_done,
        resumed_from=training.run.resumed_from,
        train_step_seconds=seconds,
        images_per_second=images_per_second,
    )
    return training.run.colorizer, trained


def _train_on_ray_train(work: MethodWork, config: ExperimentConfig) -> tuple[Any, Training]:
    trial = work.trial
    trainer = make_trainer(
        config,
        Scaling(trial.workers, trial.cpus_per_worker, trial.gpus_per_worker),
        storage=work.ray_storage,
        name=work.job_name,
        tracking_uri=work.tracking_uri,
        run_id=work.run_id,
        max_failures=trial.max_failures,
        controller_failure_limit=0,  # no workers in time: the run fails, the compare goes on
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        raise GanimeError(f"training on Ray failed: {failure_reason(exc)}") from None
    if result.checkpoint is None:
        raise GanimeError("the Ray Train run finished without a checkpoint")
    epochs = int(result.metrics.get("epoch", config.train.epochs))
    return result.checkpoint, Training(epochs=epochs)


def _measure(
    work: MethodWork,
    config: ExperimentConfig,
    colorizer: Any,
    trained: Training,
    process: Any,
) -> RunResult:
    """Measure `colorizer` (None: the method `config` builds, which trains nothing) on the
    protocol's split, bootstrap the metrics over its images, and record the result in the run."""
    from ganime_core.data.pipeline import to_uint8
    from ganime_core.evaluation import Evaluator

    evaluation = work.evaluation
    keep = evaluation.grid_images
    evaluator = Evaluator(config, split=evaluation.split, cache=process.evaluations)
    started = time.perf_counter()
    if colorizer is None:
        colorizer = build_colorizer(config)
        shards = work.shards
        if shards > 1:
            trial = work.trial
            resources = ShardResources(trial.cpus_per_worker, trial.gpus_per_worker)
            measured = measure_on_ray(
                config, evaluation.split, evaluator.n, shards, resources, keep
            )
        else:
            measured = evaluator.measure(colorizer, keep=keep)
    else:
        measured = evaluator.measure(colorizer, keep=keep)
    scored = evaluator.score(measured, colorizer)
    eval_seconds = time.perf_counter() - started
    replicates = None
    if evaluation.bootstrap_replicates:
        # Row i of the measured outputs and of the reference is the same test image; the
        # resamples are RESAMPLE_SEED's for every run, so runs pair replicate by replicate.
        replicates = bootstrap_replicates(
            measured.features,
            evaluator.reference.features,
            evaluation.bootstrap_replicates,
            RESAMPLE_SEED,
            per_image=measured.per_image(),  # an unmeasured metric is empty: no replicates
            ratios=measured.ratios(),
        )
    result = RunResult(
        method=work.method,
        seed=work.seed,
        key=work.key,
        values={objective: scored.value(objective) for objective in OBJECTIVES},
        logged_names={objective: scored.name(objective) for objective in OBJECTIVES},
        metrics=scored.metrics(),
        n=scored.n,
        backbone=scored.backbone,
        standins=tuple(scored.standins),
        reference=scored.reference,
        eval_seconds=eval_seconds,
        bootstrap=replicates,
        **dataclasses.asdict(trained),
    )
    samples = {k: to_uint8(v).numpy() for k, v in (measured.samples or {}).items()}
    step = int(trained.epochs or 0)
    logged = {**scored.metrics(), names.EVAL_SECONDS: eval_seconds, "n": float(scored.n)}
    if not config.model.trainable:
        _record_method_model(work, config, scored, colorizer, measured.samples)
    record_result(work.tracking_uri, work.run_id, result.to_record(), logged, samples, step)
    return result


def _record_method_model(
    work: MethodWork,
    config: ExperimentConfig,
    scored: Any,
    colorizer: Any,
    samples: dict[str, np.ndarray],
) -> None:
    """A method that trains nothing gets the model and sample grid `ganime evaluate` logs, so
    that `ganime promote --run` and `colorize --model` take it as they take a trained run."""
    from ganime_core.data.pipeline import to_uint8
    from ganime_core.samples import sample_grid

    grid = sample_grid(
        samples["sketch"], samples["generated"], samples["color"], samples["reference"]
    )
    summary = {**scored.summary(), "split": work.evaluation.split, "method": work.method}
    example = (
        to_uint8(samples["sketch"][0]).numpy(),
        to_uint8(samples["reference"][0]).numpy(),
    )
    record_method_evaluation(
        work.tracking_uri,
        work.run_id,
        config,
        summary,
        {},
        grid,
        colorizer.files,
        example,
    )


def _reason(exc: Exception) -> str:
    """One line: a GANime error's own message, else the exception's last line and type."""
    if isinstance(exc, GanimeError):
        return str(exc)
    return f"{type(exc).__name__}: {last_line(str(exc))}" if str(exc) else type(exc).__name__
