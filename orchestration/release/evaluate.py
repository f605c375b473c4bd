"""`ganime evaluate`: FID, KID and SSIM of a checkpoint or an MLflow model on a data split, logged
to MLflow when a tracking server is configured. The measuring is ganime_core.evaluation's; this
module finds the model, points it at the data and records the result."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EVALUATION_EXPERIMENT = "ganime-evaluations"


def evaluate_checkpoint(checkpoint: Path, data: Path | None, **options: Any) -> dict[str, object]:
    """Measure the generator of `checkpoint` (an epoch folder or a run folder) on `data`."""
    from ganime_core.checkpoint import find_checkpoint, open_checkpoint

    found = find_checkpoint(checkpoint)
    trained, family, _ = open_checkpoint(found)
    return measure(trained, family.generate, data, source=str(found), **options)


def evaluate_model(uri: str, data: Path | None, **options: Any) -> dict[str, object]:
    """Measure an MLflow model (orchestration.model) on `data`, through its pyfunc `predict`."""
    from orchestration.model import load_colorizer, pyfunc_generate

    model = load_colorizer(uri, what="--model")
    trained = model.unwrap_python_model().config
    generate = pyfunc_generate(model)

    return measure(trained, generate, data, source=uri, **options)


def measure(
    trained: Any,
    generate: Callable,
    data: Path | None,
    *,
    source: str,
    split: str = "val",
    limit: int | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Evaluate `generate` under the config it was trained with, pointed at `data` (None: the
    data it was trained on); `limit` and `--set` overrides (e.g. metrics.*) change only what it
    is measured on and how."""
    from ganime_core.config import apply_overrides, parse_config
    from ganime_core.data.pipeline import data_root
    from ganime_core.evaluation import Evaluator

    raw = trained.model_dump(mode="json")
    if data is not None:
        raw["data"]["path"] = str(data)
    if limit is not None:
        raw["metrics"]["max_images"] = limit
    config = parse_config(apply_overrides(raw, overrides or []), source="ganime evaluate")
    result = Evaluator(config, split=split, progress=progress).evaluate(generate)
    summary = {**result.summary(), "split": split, "source": source}
    if os.environ.get("MLFLOW_TRACKING_URI"):
        summary["mlflow_run_id"] = log_evaluation(summary, result.metrics(), data_root(config.data))
    return summary


def log_evaluation(summary: dict[str, object], metrics: dict[str, float], data: Path) -> str:
    """One run in the `ganime-evaluations` experiment: what was measured, on what, with what.

    Through a client, not the fluent API: mlflow.set_experiment would leave an active
    experiment behind in this process (and in $MLFLOW_EXPERIMENT_ID) for whatever runs next."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from orchestration.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(EVALUATION_EXPERIMENT)
    experiment_id = (
        found.experiment_id if found else client.create_experiment(EVALUATION_EXPERIMENT)
    )
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
        tags=[RunTag("ganime.backbone", str(summary["backbone"]))],
    )
    client.log_dict(run_id, summary, "evaluation.json")
    client.set_terminated(run_id)
    log.info("logged to MLflow run %s", run_id)
    return run_id
