"""`ganime evaluate`: FID, KID and SSIM of a checkpoint, an MLflow model, or a method that trains
nothing (an experiment file of NST or Fast NST) on a data split, logged to MLflow when a
tracking server is configured. The measuring is ganime_core.evaluation's; this
module finds the model, points it at the data and has the result recorded
(tracking/evaluations.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganime_core.checkpoint import find_checkpoint, open_checkpoint
from ganime_core.colorizers import Colorizer
from ganime_core.config import ExperimentConfig, load_config, parse_overrides
from ganime_core.data.pipeline import data_root, to_uint8
from ganime_core.errors import GanimeError
from ganime_core.evaluation import Evaluator
from ganime_core.families import build_colorizer
from ganime_core.samples import sample_grid
from ganime_core.splits import TEST
from orchestration.release.shards import ShardResources, measure_on_ray
from orchestration.tracking.evaluations import log_evaluation, log_method_run
from orchestration.tracking.model import load_colorizer, pyfunc_colorizer


def evaluate_checkpoint(checkpoint: Path, data: Path | None, **options: Any) -> dict[str, object]:
    """Measure the generator of `checkpoint` (an epoch folder or a run folder) on `data`."""
    found = find_checkpoint(checkpoint)
    trained, family, _ = open_checkpoint(found)
    return measure(trained, family.colorizer(), data, source=str(found), **options)


def evaluate_model(uri: str, data: Path | None, **options: Any) -> dict[str, object]:
    """Measure an MLflow model (tracking/model.py) on `data`, through its pyfunc `predict`."""
    model = load_colorizer(uri, what="--model")
    trained = model.unwrap_python_model().config
    return measure(trained, pyfunc_colorizer(model), data, source=uri, **options)


def measure(
    trained: ExperimentConfig,
    colorizer: Colorizer,
    data: Path | None,
    *,
    source: str,
    split: str = TEST,
    limit: int | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Evaluate `colorizer` under the config it was trained with, pointed at `data` (None: the
    data it was trained on); `limit` and `--set` overrides (e.g. metrics.*) change only what it
    is measured on and how."""
    changes: dict[str, Any] = {}
    if data is not None:
        changes["data.path"] = data
    if limit is not None:
        changes["metrics.max_images"] = limit
    changes.update(parse_overrides(overrides or []))  # --set wins over --data and --limit
    config = trained.replace(changes, source="ganime evaluate")
    result = Evaluator(config, split=split, progress=progress).evaluate(colorizer)
    summary = {**result.summary(), "split": split, "source": source}
    if os.environ.get("MLFLOW_TRACKING_URI"):
        summary["mlflow_run_id"] = log_evaluation(summary, result.metrics(), data_root(config.data))
    return summary


def evaluate_experiment(
    experiment: Path,
    data: Path | None,
    *,
    split: str = TEST,
    limit: int | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
    workers: int = 1,
    resources: ShardResources | None = None,
    address: str | None = None,
) -> dict[str, object]:
    """Measure a method that trains nothing (NST, Fast NST) as `experiment` sets it up, in this
    process or (`workers` > 1) in that many Ray tasks; with a tracking server, log it as a run
    of the experiment's name, its model included."""
    changes: dict[str, Any] = {}
    if data is not None:
        changes["data.path"] = data
    if limit is not None:
        changes["metrics.max_images"] = limit
    config = load_config(experiment, overrides).replace(changes, source="ganime evaluate")
    if config.model.trainable:
        raise GanimeError(
            f"{experiment}: {config.model.family} is trained: `ganime train {experiment}`, then "
            "`ganime evaluate --checkpoint` or `--model`"
        )
    colorizer = build_colorizer(config)
    evaluator = Evaluator(config, split=split, progress=progress)
    keep = config.train.sample_images
    if workers > 1:
        resources = resources or ShardResources()
        measured = measure_on_ray(config, split, evaluator.n, workers, resources, keep, address)
    else:
        measured = evaluator.measure(colorizer, keep=keep)
    result = evaluator.score(measured, colorizer)
    summary = {
        **result.summary(),
        "split": split,
        "source": str(experiment),
        "method": config.model.family,
        "workers": workers,
    }
    if os.environ.get("MLFLOW_TRACKING_URI"):
        samples = measured.samples
        grid = sample_grid(
            samples["sketch"], samples["generated"], samples["color"], samples["reference"]
        )
        example = (
            to_uint8(samples["sketch"][0]).numpy(),
            to_uint8(samples["reference"][0]).numpy(),
        )
        summary["mlflow_run_id"] = log_method_run(
            config,
            summary,
            result.metrics(),
            data_root(config.data),
            grid,
            colorizer.files,
            example,
        )
    return summary
