"""bench.weight_response on a tiny budget: its command trains and measures every (value, seed),
writes the JSON and the plot, and logs a parent run with one child per run to MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from bench.weight_response import (
    MEASURES,
    MLFLOW_EXPERIMENT,
    OUTPUT_TV,
    anisotropic_tv,
    replot,
)
from ganime_core.metrics import names
from orchestration.tracking import tags
from tests.support.paths import EXPERIMENTS, REPO

TINY = [
    "data.image_size=32",
    "data.synthetic.count=40",  # 24 train, 8 selection (what the bench measures), 8 test
    "data.selection=8",
    "data.jitter=false",
    "model.base_filters=4",
    "train.batch_size=4",
    "train.epochs=1",
    "metrics.allow_untrained_backbone=true",
    "metrics.backbone_size=75",
    "metrics.kid_subsets=5",
]


def test_anisotropic_tv_is_mean_abs_dx_plus_mean_abs_dy() -> None:
    image = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0], [1.0, 4.0, 4.0]])[None, ..., None]
    flat = np.zeros_like(image)
    # as tests/core/test_losses.py: |dx| means 8/6, |dy| 13/6
    np.testing.assert_allclose(anisotropic_tv(np.concatenate([image, flat])), [21 / 6, 0.0])


@pytest.mark.slow
def test_the_command_writes_every_row_the_summary_the_plot_and_the_mlflow_runs(
    tmp_path: Path, cache_dir: Path, mlflow_store: str
) -> None:
    out = tmp_path / "docs" / "weight_response_tiny"
    command = [
        sys.executable, "-m", "bench.weight_response",
        "--experiment", str(EXPERIMENTS / "pix2pix_tv.yaml"),
        "--key", "model.lambda_tv", "--values", "0,10", "--seeds", "2", "--cpus", "1",
        *(arg for override in TINY for arg in ("--set", override)),
        "--out", str(out), "--work-dir", str(tmp_path / "runs"), "--tracking-uri", mlflow_store,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    report = json.loads(out.with_suffix(".json").read_text())
    assert (report["key"], report["values"], report["seeds"]) == ("model.lambda_tv", [0, 10], 2)
    protocol = report["protocol"]
    assert (protocol["image_size"], protocol["epochs"], protocol["evaluation_split"]) == (
        32,
        1,
        "selection",
    )
    assert protocol["evaluation_images"] == 8
    rows = report["rows"]
    assert [(row["value"], row["seed"]) for row in rows] == [(0, 0), (0, 1), (10, 0), (10, 1)]
    fid_name = rows[0]["metric_names"]["fid"]
    assert names.parse(fid_name).split == "selection" and names.parse(fid_name).standins
    # Pix2Pix uses no reference: the a/b distance and the swap are not measured; the rest is.
    measured = [m for m in MEASURES if rows[0][m] is not None]
    assert set(MEASURES) - set(measured) == {"ab_distance", "swap"}
    for row in rows:
        assert all(np.isfinite(row[m]) for m in measured), row
        assert row["images"] == 8 and row["real_tv"] > 0
    # The two seeds train different generators.
    assert rows[0][OUTPUT_TV] != rows[1][OUTPUT_TV]

    summary = report["summary"]
    assert summary["baseline"] == 0
    assert "Welch" in summary["test"] and "Holm" in summary["test"]
    baseline, weighted = summary["per_value"]
    for measure in measured:
        values = [row[measure] for row in rows if row["value"] == 10]
        assert weighted[measure]["mean"] == pytest.approx(np.mean(values))
        low, high = weighted[measure]["ci95"]
        assert low <= weighted[measure]["mean"] <= high
        assert "vs_baseline" not in baseline[measure]
        test = weighted[measure]["vs_baseline"]
        assert 0 <= test["p"] <= test["p_holm"] <= 1  # one other value: Holm leaves p as it is
    assert set(summary["differs_from"]) == set(summary["differs_from_paired"]) == set(measured)
    assert summary["output_tv_differs_from"] in (None, 10)
    assert summary["changes_outputs_from"] in (None, 10)
    assert set(summary["improves"]) | set(summary["worsens"]) <= set(MEASURES)
    assert summary["real_tv"] == pytest.approx(rows[0]["real_tv"])

    with Image.open(out.with_suffix(".png")) as plot:
        assert plot.size == (1000, 700)
    # --replot summarizes the rows again, to the same summary, and redraws the plot.
    out.with_suffix(".png").unlink()
    replot(out.with_suffix(".json"))
    assert json.loads(out.with_suffix(".json").read_text())["summary"] == summary
    assert out.with_suffix(".png").is_file()

    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if tags.PARENT_RUN not in run.data.tags]
    children = [run for run in runs if tags.PARENT_RUN in run.data.tags]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["key"] == "model.lambda_tv"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert artifacts == {"weight_response_tiny.json", "weight_response_tiny.png"}
    by_id = {row["mlflow_run_id"]: row for row in rows}
    for child in children:
        row = by_id[child.info.run_id]
        assert child.data.tags[tags.PARENT_RUN] == parent.info.run_id
        assert float(child.data.params["model.lambda_tv"]) == row["value"]
        assert int(child.data.params["seed"]) == row["seed"]
        assert child.data.metrics[fid_name] == pytest.approx(row["fid"])
        assert child.data.metrics[OUTPUT_TV] == pytest.approx(row[OUTPUT_TV])
