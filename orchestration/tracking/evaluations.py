"""`ganime evaluate`'s MLflow record. A trained model's evaluation: one run in the
`ganime-evaluations` experiment, saying what was measured, on what data, with what backbone. A
method that trains nothing (NST, Fast NST): a run in the experiment named after its config, as
a training run's evaluation is recorded (params, metrics named with their backbone, a sample
grid, the method as a pyfunc model `promote --run` and `colorize --model` take).

Written through a client, not the fluent API: mlflow.set_experiment would leave an active
experiment behind in this process (and in $MLFLOW_EXPERIMENT_ID) for whatever runs next.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from ganime_core.config import ExperimentConfig
from orchestration.tracking import tags
from orchestration.tracking.model import log_method_model
from orchestration.tracking.runs import (
    browse_hint,
    open_run,
    tracking_uri,
    training_experiment,
)
from orchestration.tracking.sink import METHOD_MODEL, SAMPLES_KEY

log = logging.getLogger(__name__)

EVALUATION_EXPERIMENT = "ganime-evaluations"


def log_evaluation(summary: dict[str, object], metrics: dict[str, float], data: Path) -> str:
    """Record one evaluation as a finished run; return its id. `summary` is `ganime evaluate`'s
    JSON line (source, split, n, backbone ...), `metrics` the values measured by name."""
    client = MlflowClient(tracking_uri())
    experiment_id = training_experiment(client, EVALUATION_EXPERIMENT)
    name = f"{summary['source']} on {data.name}/{summary['split']}"
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    params = {
        "source": summary["source"],
        "data": str(data),
        "split": summary["split"],
        "n": summary["n"],
        "backbone": summary["backbone"],
    }
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
        params=[Param(key, str(value)) for key, value in params.items()],
        tags=[RunTag(tags.BACKBONE, str(summary["backbone"]))],
    )
    client.log_dict(run_id, summary, "evaluation.json")
    client.set_terminated(run_id)
    where = f"#/experiments/{client.get_run(run_id).info.experiment_id}/runs/{run_id}"
    log.info("logged to MLflow run %s; browse it: %s", run_id, browse_hint(where))
    return run_id


def log_method_run(
    config: ExperimentConfig,
    summary: dict[str, object],
    metrics: dict[str, float],
    data: Path,
    grid: np.ndarray,
    model_files: Path | None,
    example: tuple[np.ndarray, np.ndarray],
) -> str:
    """Record the evaluation of a method that trains nothing as a finished run; return its id.
    `grid`: uint8 sample rows sketch | reference | result | target; `model_files` and `example`
    (a uint8 sketch and its reference): the pyfunc model logged as `colorizer`."""
    uri = tracking_uri()
    reference = str(summary.get("reference", ""))
    name = f"{config.name} on {data.name}/{summary['split']}"
    if reference:
        name += f" (reference: {reference})"
    run_id = open_run(
        config,
        uri,
        job=f"ganime evaluate {config.name} {time.time_ns()}",  # every evaluation its own run
        run_name=name,
        extra_tags={
            tags.SOURCE_NAME: "ganime evaluate",
            tags.BACKBONE: str(summary["backbone"]),
            tags.SPLIT: str(summary["split"]),
            **({tags.REFERENCE: reference} if reference else {}),
        },
    )
    record_method_evaluation(uri, run_id, config, summary, metrics, grid, model_files, example)
    client = MlflowClient(uri)
    client.set_terminated(run_id)
    where = f"#/experiments/{client.get_run(run_id).info.experiment_id}/runs/{run_id}"
    log.info("logged to MLflow run %s; browse it: %s", run_id, browse_hint(where))
    return run_id


def record_method_evaluation(
    uri: str,
    run_id: str,
    config: ExperimentConfig,
    summary: dict[str, object],
    metrics: dict[str, float],
    grid: np.ndarray,
    model_files: Path | None,
    example: tuple[np.ndarray, np.ndarray],
) -> None:
    """A method that trains nothing, measured, in its run: the metrics, the summary, the sample
    grid and the method as the pyfunc model `colorizer`, in run `run_id` of the store at `uri`."""
    client = MlflowClient(uri)
    now = int(time.time() * 1000)
    values = {**metrics, "n": float(summary["n"])}  # type: ignore[arg-type]
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])
    client.log_dict(run_id, summary, "evaluation.json")
    client.log_image(run_id, grid, key=SAMPLES_KEY, step=0)
    log_method_model(client, run_id, config, model_files, METHOD_MODEL, example)
