"""Tiny compare files and their MLflow runs, for the tests of `ganime compare`."""

from __future__ import annotations

from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from orchestration.tracking import tags
from tests.support.paths import EXPERIMENTS

# What every method is measured with: a compare file must say where their files differ.
TINY_METRICS = {
    "allow_untrained_backbone": True,
    "backbone_size": 75,
    "batch_size": 8,
    "kid_subsets": 10,
    "kid_subset_size": 3,
}


def tiny_compare(folder: Path, name: str, methods: list[dict], **changes) -> Path:
    path = folder / f"{name}.yaml"
    raw = {
        "name": name,
        "data": {"image_size": 32, "synthetic": {"count": 30, "seed": 0}},  # 24 train, 6 val
        "metrics": TINY_METRICS,
        "seeds": 2,
        "epochs": 1,
        "evaluation": {"max_images": 6, "grid_images": 2},
        "methods": methods,
        **changes,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


PIX2PIX_TV = {
    "name": "pix2pix_tv",
    "experiment": str(EXPERIMENTS / "smoke.yaml"),
    "overrides": {"model.base_filters": 4, "train.sample_images": 2},
}
CYCLEGAN = {
    "name": "cyclegan",
    "experiment": str(EXPERIMENTS / "cyclegan.yaml"),
    "overrides": {
        "model.base_filters": 4,
        "train.batch_size": 8,
        "train.checkpoint_every": 1,
        "train.sample_images": 2,
    },
}
NST = {"name": "nst", "experiment": str(EXPERIMENTS / "nst_smoke.yaml")}


def children(client: MlflowClient, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:  # the compare has not opened its runs yet
        return []
    runs = client.search_runs([found.experiment_id], max_results=100)
    return [run for run in runs if tags.METHOD in run.data.tags]
