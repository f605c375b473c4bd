"""`ganime evaluate`: FID, KID and SSIM of a checkpoint on a data split, logged to MLflow when a
tracking server is configured. The measuring is ganime_core.evaluation's; this module finds the
model, points it at the data and records the result."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

EVALUATION_EXPERIMENT = "ganime-evaluations"


def evaluate_checkpoint(
    checkpoint: Path,
    data: Path,
    split: str = "val",
    limit: int | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Measure the generator of `checkpoint` (an epoch folder or a run folder) on `data`.

    The model is rebuilt from the checkpoint's own configuration; `data`, `limit` and any
    `--set` overrides (e.g. metrics.*) change only what it is measured on and how.
    """
    from ganime_core.checkpoint import find_checkpoint, open_checkpoint
    from ganime_core.config import apply_overrides, parse_config
    from ganime_core.evaluation import Evaluator

    found = find_checkpoint(checkpoint)
    trained, family, epochs = open_checkpoint(found)
    raw = trained.model_dump(mode="json")
    raw["data"]["path"] = str(data)
    if limit is not None:
        raw["metrics"]["max_images"] = limit
    config = parse_config(apply_overrides(raw, overrides or []), source="ganime evaluate")
    result = Evaluator(config, split=split, progress=progress).evaluate(family.generate)
    summary = {**result.summary(), "split": split, "checkpoint": str(found), "epochs": epochs}
    if os.environ.get("MLFLOW_TRACKING_URI"):
        summary["mlflow_run_id"] = log_evaluation(summary, result.metrics(), data)
    return summary


def log_evaluation(summary: dict[str, object], metrics: dict[str, float], data: Path) -> str:
    """One run in the `ganime-evaluations` experiment: what was measured, on what, with what."""
    import mlflow

    mlflow.set_experiment(EVALUATION_EXPERIMENT)
    source = Path(str(summary["checkpoint"]))
    name = f"{source.parent.parent.name}/{source.name} on {data.name}/{summary['split']}"
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params(
            {
                "checkpoint": summary["checkpoint"],
                "data": str(data),
                "split": summary["split"],
                "n": summary["n"],
                "backbone": summary["backbone"],
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.set_tag("ganime.backbone", str(summary["backbone"]))
        mlflow.log_dict(summary, "evaluation.json")
    log.info("logged to MLflow run %s", run.info.run_id)
    return run.info.run_id
