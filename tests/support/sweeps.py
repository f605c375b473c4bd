"""The tiny sweep the sweep tests run (32 px, 8 filters, a few steps an epoch) and readers of
what it leaves in Tune's folder and in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from orchestration.tracking.tags import TRIAL_ID as TRIAL_TAG
from tests.support.paths import EXPERIMENTS

# Learning rates: trains, barely moves, blows up. After one epoch (4 steps) GOOD's FID was 29.3
# against WORSE's 31.0 on 8 held-out images (at 2e-4 both were still 31.0: ASHA could not tell
# them apart); trials are now ranked on 8 selection images carved from train/.
GOOD, WORSE, NAN = 2e-3, 1e-12, 1e30

# What trials rank on: the selection split, measured with the stand-in InceptionV3.
SELECTION_FID = "selection_fid_untrained_inception"


def tiny_sweep(tmp_path: Path, rates: list[float], **changes) -> Path:
    """32 px, 8 base filters, 4 steps of 8 per epoch (40 train and 10 test images generated, 8
    of the train images carved for selection), searching only the learning rate; the
    trials are exactly `rates`, in order, one at a time (so ASHA's comparisons are fixed)."""
    raw = {
        "name": "tiny",
        "experiment": str(EXPERIMENTS / "smoke.yaml"),
        "overrides": {
            "data.synthetic.count": 50,
            "data.selection": 8,
            "model.base_filters": 8,
            "train.checkpoint_every": 1,
            "train.eval_every": 1,
            "train.sample_images": 2,
            "metrics.backbone_size": 75,
            "metrics.kid_subset_size": 8,
            "metrics.kid_subsets": 10,
        },
        "search": {"optimizer.learning_rate": {"loguniform": [1e-12, 1e30]}},
        "start_with": [{"optimizer.learning_rate": rate} for rate in rates],
        "num_samples": len(rates),
        "metric": "fid",
        "max_epochs": 2,
        "asha": {"grace_period": 1, "reduction_factor": 2},
        "max_concurrent_trials": 1,
        **changes,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tune_results(experiment: Path) -> dict[str, list[dict]]:
    """Every result each trial reported, from Tune's result.json files: trial folder -> steps."""
    return {
        folder.name: [
            json.loads(line) for line in (folder / "result.json").read_text().splitlines()
        ]
        for folder in experiment.iterdir()
        if (folder / "result.json").is_file()
    }


def trial_errors(experiment: Path) -> dict[str, str]:
    """Why each failed trial failed, from Tune's error.txt files: trial folder -> its last line
    (for a test's assertion message: what a trial's failure was, not only that it failed)."""
    return {
        folder.name: (folder / "error.txt").read_text().strip().splitlines()[-1]
        for folder in experiment.iterdir()
        if (folder / "error.txt").is_file()
    }


def trial_runs(client: MlflowClient) -> list:
    """The tiny sweep's trial runs so far (none before its experiment exists)."""
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return [run for run in runs if TRIAL_TAG in run.data.tags]


def with_an_epoch(client: MlflowClient, trials: list):
    """The first of `trials` that has logged an epoch, or None."""
    return next((r for r in trials if client.get_metric_history(r.info.run_id, "epoch")), None)


def child_runs(client: MlflowClient, parent_run_id: str) -> dict[str, object]:
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    )
    return {run.data.tags[TRIAL_TAG]: run for run in runs}
