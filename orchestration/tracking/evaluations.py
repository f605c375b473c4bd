"""`ganime evaluate`'s MLflow record: one run per evaluation in the `ganime-evaluations`
experiment, saying what was measured, on what data, with what backbone.

Written through a client, not the fluent API: mlflow.set_experiment would leave an active
experiment behind in this process (and in $MLFLOW_EXPERIMENT_ID) for whatever runs next.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from orchestration.tracking import tags
from orchestration.tracking.runs import tracking_uri, training_experiment

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
    log.info("logged to MLflow run %s", run_id)
    return run_id
