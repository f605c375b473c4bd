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
held-out rows, references (drawn from the seed) and backbone for every method. Ray reuses a
worker process for later tasks, so TensorFlow is imported, and InceptionV3 built, once per
process (`_process`).

The driver imports this module; TensorFlow is imported inside the tasks only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import ray

from ganime_core.config import ExperimentConfig, parse_config
from ganime_core.errors import GanimeError
from orchestration.release.shards import ShardResources, measure_on_ray
from orchestration.tracking.compares import record_failure, record_result

_PROCESS: Any = None  # this worker process's TrialProcess: TensorFlow set up, backbones built


def _process(cpus: int) -> Any:
    global _PROCESS
    from orchestration.training.local import TrialProcess

    if _PROCESS is None:
        _PROCESS = TrialProcess(cpus)
    else:
        _PROCESS.next_run()  # the previous task's graphs go
    return _PROCESS


@ray.remote(max_retries=0)
def run_method(work: dict[str, Any]) -> dict[str, Any]:
    """Train (if it trains) and measure one run; returns its result, or {"error": reason} if it
    failed (its MLflow run then says why). A cancelled task (an interrupted compare) leaves
    its run RUNNING, to be continued."""
    config = parse_config(work["config"], source=f"compare {work['method']} seed {work['seed']}")
    uri, run_id = work["tracking_uri"], work["run_id"]
    try:
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)
        started = time.perf_counter()
        if not config.model.trainable:
            result = _measure(work, config, None, {}, _process(cpus))
        elif work["trial"]["workers"] == 1:
            process = _process(cpus)
            colorizer, trained = _train_here(work, config, process)
            result = _measure(work, config, colorizer, trained, process)
        else:
            checkpoint, trained = _train_on_ray_train(work, config)
            trial = work["trial"]
            measure = measure_checkpoint.options(
                num_cpus=trial["cpus_per_worker"], num_gpus=trial["gpus_per_worker"]
            )
            result = ray.get(measure.remote(work, checkpoint, trained))
        result["seconds"] = time.perf_counter() - started
        return result
    except Exception as exc:  # a data error, a NaN loss, missing weights: the run fails alone
        reason = _reason(exc)
        record_failure(uri, run_id, reason)
        return {"error": reason}


@ray.remote(max_retries=0)
def measure_checkpoint(work: dict[str, Any], checkpoint: Any, trained: dict[str, Any]) -> dict:
    """A Ray Train run's final checkpoint (a ray.train.Checkpoint: a folder, or a URI in cloud
    storage), measured where a worker would run."""
    from ganime_core.checkpoint import open_checkpoint

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1) or 1)
    process = _process(cpus)
    config = parse_config(work["config"], source=f"compare {work['method']} seed {work['seed']}")
    with checkpoint.as_directory() as folder:
        _, family, _ = open_checkpoint(Path(folder))
        colorizer = family.colorizer()
    return _measure(work, config, colorizer, trained, process)


def _train_here(work: dict[str, Any], config: ExperimentConfig, process: Any) -> tuple[Any, dict]:
    from orchestration.training.local import LocalTraining

    config = config.replace({"train.output_dir": work["output_dir"]})
    training = LocalTraining(
        config, work["tracking_uri"], work["run_id"], cache=process.evaluations, progress=False
    )
    try:
        seconds, images_per_second = 0.0, 0.0
        while not training.finished:
            report = training.epoch()
            seconds += report.seconds
            images_per_second = report.images_per_second
    finally:
        training.close(None)  # the run ends once it is measured
    trained = {
        "epochs": training.run.epochs_done,
        "resumed_from": training.run.resumed_from,
        "train_step_seconds": seconds,
        "images_per_second": images_per_second,
    }
    return training.run.colorizer, trained


def _train_on_ray_train(work: dict[str, Any], config: ExperimentConfig) -> tuple[Any, dict]:
    from ray.train import TrainingFailedError

    from orchestration.training.ray_train import Scaling, failure_reason, make_trainer

    trial = work["trial"]
    trainer = make_trainer(
        config,
        Scaling(trial["workers"], trial["cpus_per_worker"], trial["gpus_per_worker"]),
        storage=work["ray_storage"],
        name=work["job_name"],
        tracking_uri=work["tracking_uri"],
        run_id=work["run_id"],
        max_failures=trial["max_failures"],
        controller_failure_limit=0,  # no workers in time: the run fails, the compare goes on
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        raise GanimeError(f"training on Ray failed: {failure_reason(exc)}") from None
    if result.checkpoint is None:
        raise GanimeError("the Ray Train run finished without a checkpoint")
    epochs = int(result.metrics.get("epoch", config.train.epochs))
    return result.checkpoint, {"epochs": epochs}


def _measure(
    work: dict[str, Any],
    config: ExperimentConfig,
    colorizer: Any,
    trained: dict[str, Any],
    process: Any,
) -> dict[str, Any]:
    """Measure `colorizer` (None: the method `config` builds, which trains nothing) on the
    protocol's split, and record the result in the run."""
    from ganime_core.colorizers import style_transfer_colorizer
    from ganime_core.data.pipeline import to_uint8
    from ganime_core.evaluation import Evaluator
    from ganime_core.metrics import names

    evaluation = work["evaluation"]
    keep = evaluation["grid_images"]
    evaluator = Evaluator(config, split=evaluation["split"], cache=process.evaluations)
    started = time.perf_counter()
    if colorizer is None:
        colorizer = style_transfer_colorizer(config)
        shards = work["shards"]
        if shards > 1:
            trial = work["trial"]
            resources = ShardResources(trial["cpus_per_worker"], trial["gpus_per_worker"])
            measured = measure_on_ray(
                config, evaluation["split"], evaluator.n, shards, resources, keep
            )
        else:
            measured = evaluator.measure(colorizer, keep=keep)
    else:
        measured = evaluator.measure(colorizer, keep=keep)
    scored = evaluator.score(measured, colorizer)
    eval_seconds = time.perf_counter() - started
    values = {objective: scored.value(objective) for objective in names.MODES}
    result = {
        "method": work["method"],
        "seed": work["seed"],
        "key": work["key"],
        "values": values,  # fid, kid, ssim: the table's columns
        "metrics": scored.metrics(),  # as logged, named with backbone and reference policy
        "n": scored.n,
        "backbone": scored.backbone,
        "metric_suffix": scored.metric_suffix,
        "reference": scored.reference,
        "eval_seconds": eval_seconds,
        **trained,
    }
    samples = {k: to_uint8(v).numpy() for k, v in (measured.samples or {}).items()}
    step = int(trained.get("epochs", 0))
    logged = {**scored.metrics(), names.EVAL_SECONDS: eval_seconds, "n": float(scored.n)}
    if not config.model.trainable:
        _record_method_model(work, config, scored, colorizer, measured.samples)
    record_result(work["tracking_uri"], work["run_id"], result, logged, samples, step)
    return result


def _record_method_model(
    work: dict[str, Any],
    config: ExperimentConfig,
    scored: Any,
    colorizer: Any,
    samples: dict[str, np.ndarray],
) -> None:
    """A method that trains nothing gets the model and sample grid `ganime evaluate` logs, so
    that `ganime promote --run` and `colorize --model` take it as they take a trained run."""
    from mlflow.tracking import MlflowClient

    from ganime_core.data.pipeline import to_uint8
    from ganime_core.samples import sample_grid
    from orchestration.tracking.evaluations import record_method_evaluation

    grid = sample_grid(
        samples["sketch"], samples["generated"], samples["color"], samples["reference"]
    )
    summary = {**scored.summary(), "split": work["evaluation"]["split"], "method": work["method"]}
    example = (
        to_uint8(samples["sketch"][0]).numpy(),
        to_uint8(samples["reference"][0]).numpy(),
    )
    record_method_evaluation(
        MlflowClient(work["tracking_uri"]),
        work["run_id"],
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
    from orchestration.training.ray_train import last_line

    return f"{type(exc).__name__}: {last_line(str(exc))}" if str(exc) else type(exc).__name__
