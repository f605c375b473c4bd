"""NST and Fast NST end to end on generated data: `ganime evaluate EXPERIMENT.yaml` measures and
logs them like a training run's evaluation, their logged model colorizes with `--reference`
(and refuses in one line without one), and `promote --run` registers it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from orchestration.release.evaluate import evaluate_experiment
from orchestration.release.shards import shard_bounds
from orchestration.tracking import tags
from tests.support.asset_server import stylization_saved_model
from tests.support.commands import ganime, sketches_and_references
from tests.support.paths import EXPERIMENTS
from tests.support.ray_cluster import local_ray_cluster

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402


def test_nst_is_evaluated_logged_colorizes_after_references_and_is_promoted(
    tmp_path, mlflow_store, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    nst = str(EXPERIMENTS / "nst_smoke.yaml")
    code, out, err = ganime(capsys, "evaluate", nst, "--no-progress")
    assert code == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["method"] == "nst" and summary["reference"] == "random_train"
    # The test split by default; stand-ins InceptionV3 and VGG19: named so, SSIM included
    assert summary["n"] == 8 and summary["test_fid_untrained_inception_vgg19"] > 0
    assert "test_ssim_untrained_vgg19" in summary and "test_ssim" not in summary

    client = MlflowClient(mlflow_store)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.family"] == "nst" and run.data.params["model.steps"] == "10"
    assert {
        "test_fid_untrained_inception_vgg19",
        "test_kid_mean_untrained_inception_vgg19",
        "test_ssim_untrained_vgg19",
        "n",
    } <= set(run.data.metrics)
    assert run.data.tags[tags.REFERENCE] == "random_train"
    assert run.data.tags[tags.SPLIT] == "test"
    artifacts = client.list_artifacts(run.info.run_id, "images")
    (png,) = [a.path for a in artifacts if a.path.endswith(".png")]  # beside its thumbnail
    grid = np.asarray(Image.open(client.download_artifacts(run.info.run_id, png, str(tmp_path))))
    assert grid.shape[:2] == (4 * 32, 4 * 32)  # 4 rows: sketch | reference | result | target
    experiment = run.info.experiment_id
    assert {m.name for m in client.search_logged_models([experiment])} == {"colorizer"}

    sketches, references = sketches_and_references(tmp_path)
    model = f"runs:/{run.info.run_id}/colorizer"
    code, out, err = ganime(
        capsys, "colorize", str(sketches), "-o", "out", "--model", model,
        "--reference", str(references), "--no-progress",
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["written"] == 3
    out = np.asarray(Image.open(tmp_path / "out" / "s0.png"))
    assert out.shape == (40, 48, 3)  # the sketch's own size

    code, _, err = ganime(capsys, "colorize", str(sketches), "-o", "o2", "--model", model)
    assert code != 0
    (line,) = err.strip().splitlines()[-1:]
    assert "nst colorizes a sketch after a reference colour image" in line

    code, out, err = ganime(capsys, "promote", "--run", run.info.run_id)
    assert code == 0, err[-2000:]
    assert "its colorizer" in out and "register ganime-nst v1" in out
    version = client.get_model_version_by_alias("ganime-nst", "champion")
    # The gate's held-out evaluation drew the same references: it measures what was logged.
    fid = "test_fid_untrained_inception_vgg19"
    assert version.tags[tags.HOLDOUT_SPLIT] == "test" and version.tags[tags.HOLDOUT_IMAGES] == "8"
    assert float(version.tags[tags.holdout(fid)]) == pytest.approx(summary[fid], rel=1e-6)

    # --workers 2: two shards, each colorized and measured in its own Ray task, merged here.

    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # measure only
    with local_ray_cluster():
        spread = evaluate_experiment(
            EXPERIMENTS / "nst_smoke.yaml", None, progress=False, workers=2
        )
    assert spread["n"] == summary["n"] and spread["workers"] == 2
    for name in (
        "test_fid_untrained_inception_vgg19",
        "test_kid_mean_untrained_inception_vgg19",
        "test_ssim_untrained_vgg19",
    ):
        # Same images, same references; NST's batches differ (8 vs 4 images), so its pixels
        # may drift apart within AdamRun's bound (tests/support/tolerances.py) and round to other
        # uint8 levels. How far FID, KID and SSIM then move has no float32 bound: this
        # allowance is empirical, not derived.
        assert spread[name] == pytest.approx(summary[name], rel=1e-3, abs=1e-6), name


def test_fast_nst_runs_a_tf_hub_model_from_a_folder_through_ganime_evaluate(
    tmp_path, mlflow_store, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = stylization_saved_model(tmp_path / "stylization")  # magenta's call signature
    code, out, err = ganime(
        capsys, "evaluate", str(EXPERIMENTS / "nst_smoke.yaml"), "--no-progress",
        "--set", "model={family: fast_nst, handle: " + str(folder) + ", batch_size: 1}",
        "--set", "name=fast_nst_smoke", "--set", "metrics.reference=ground_truth",
    )  # fmt: skip
    assert code == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["method"] == "fast_nst" and summary["reference"] == "ground_truth"
    run = MlflowClient(mlflow_store).get_run(summary["mlflow_run_id"])
    assert "(reference: ground_truth)" in run.info.run_name  # the oracle under its own name
    assert run.data.params["model.handle"] == str(folder)


def test_shards_cover_the_split_in_order_without_overlap() -> None:
    assert shard_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert shard_bounds(2, 5) == [(0, 1), (1, 2)]  # never an empty shard
    assert shard_bounds(7, 1) == [(0, 7)]
