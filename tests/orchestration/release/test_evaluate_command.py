"""`ganime evaluate`: a checkpoint or an MLflow model measured on a split, logged to MLflow."""

from __future__ import annotations

import json
import os

import mlflow
import numpy as np
import pytest

from tests.support.asset_server import closed_port_url

pytestmark = pytest.mark.slow  # trains models: not in make test-fast

# 80 train images (one epoch: 10 steps of 8) and the 20 val images --limit 16 measures.
SMALL_DATA = ("data.synthetic.count=100",)


def test_ganime_evaluate_measures_a_trained_checkpoint_and_logs_to_mlflow(
    smoke_config, tmp_path, mlflow_store, capsys
) -> None:
    from ganime_core.data.pipeline import data_root
    from ganime_core.train import train
    from orchestration.cli import main

    config = smoke_config("train.epochs=1", "model.base_filters=8", *SMALL_DATA)
    result = train(config, progress=False)
    command = [
        "evaluate",
        "--checkpoint",
        str(result.run_dir),
        "--data",
        str(data_root(config.data)),
        "--limit",
        "16",
        "--set",
        "metrics.backbone_size=75",
        "--set",
        "metrics.kid_subset_size=8",
        "--no-progress",
    ]
    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 16
    assert summary["backbone"] == "inception_v3/untrained-seed0@75px"
    # The test split by default, the stand-in backbone named
    assert summary["test_fid_untrained_inception"] > 0 and "test_fid" not in summary
    assert 0 < summary["test_ssim"] < 1 and summary["split"] == "test"
    assert summary["source"].endswith("checkpoints/epoch-0001")

    run = mlflow.tracking.MlflowClient(mlflow_store).get_run(summary["mlflow_run_id"])
    fid = "test_fid_untrained_inception"
    assert run.data.metrics[fid] == pytest.approx(summary[fid])
    assert run.data.metrics["test_ssim"] == pytest.approx(summary["test_ssim"])
    assert run.data.params["backbone"] == summary["backbone"]


def test_ganime_evaluate_says_how_to_get_weights_when_untrained_is_not_allowed(
    smoke_config, capsys, monkeypatch
) -> None:
    from ganime_core.data.pipeline import data_root
    from ganime_core.train import train
    from orchestration.cli import main

    config = smoke_config("train.epochs=1", "model.base_filters=8", *SMALL_DATA)
    result = train(config, progress=False)
    # The missing weights are fetched (assets.auto_fetch): from a mirror that is down.
    monkeypatch.setenv("GANIME_ASSETS_MIRROR", closed_port_url())
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(result.run_dir / "checkpoints" / "epoch-0001"),
            "--data",
            str(data_root(config.data)),
            "--set",
            "metrics.allow_untrained_backbone=false",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("ganime: error: no InceptionV3")
    assert "ganime assets fetch inception_v3" in err


def test_an_mlflow_model_measures_the_same_as_its_checkpoint(
    smoke_config, tmp_path, monkeypatch, capsys
) -> None:
    """`--model` runs the logged pyfunc model's predict: same uint8 outputs, same numbers."""
    from ganime_core.checkpoint import open_checkpoint
    from ganime_core.data.pipeline import data_root
    from ganime_core.train import train
    from orchestration.cli import main
    from orchestration.tracking.model import log_generator_model, sketch_frame

    config = smoke_config("train.epochs=1", "model.base_filters=8", *SMALL_DATA)
    result = train(config, progress=False)
    _, family, _ = open_checkpoint(result.run_dir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    sketch = np.full((32, 32, 3), 255, np.uint8)
    client = mlflow.tracking.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    run_id = client.create_run("0").info.run_id  # in the Default experiment
    info = log_generator_model(
        client, run_id, family.generator, config, "generator", (sketch, None)
    )

    model = mlflow.pyfunc.load_model(info.model_uri)
    odd = np.random.default_rng(0).integers(0, 256, (2, 37, 50, 3), dtype=np.uint8)
    colour = np.stack(model.predict(sketch_frame(odd))["image"])
    assert colour.dtype == np.uint8 and colour.shape == (2, 37, 50, 3)

    common = ["--limit", "16", "--no-progress"]
    common += ["--set", "metrics.backbone_size=75", "--set", "metrics.kid_subset_size=8"]
    summaries = {}
    # Without --data, the data the model was trained on: here the same generated folder.
    for source in (
        ["--model", info.model_uri, "--data", str(data_root(config.data))],
        ["--checkpoint", str(result.run_dir)],
    ):
        assert main(["evaluate", *source, *common]) == 0
        summaries[source[0]] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    by_model, by_checkpoint = summaries["--model"], summaries["--checkpoint"]
    assert by_model["source"] == info.model_uri
    for name in ("test_fid_untrained_inception", "test_kid_mean_untrained_inception", "test_ssim"):
        assert by_model[name] == pytest.approx(by_checkpoint[name], rel=1e-6, abs=1e-9)

    assert main(["evaluate", "--model", "runs:/0123456789abcdef/nothing", *common]) == 2
    assert "cannot load it" in capsys.readouterr().err


def test_a_logged_generator_is_measured_in_the_configured_generator_mode(
    smoke_config, monkeypatch
) -> None:
    """metrics.generator_mode reaches the generator inside a logged model, which the promote
    gate and `ganime evaluate --model` measure through its pyfunc predict; measuring in
    training mode leaves the model as it was."""
    from ganime_core.families import build_family
    from orchestration.release.evaluate import evaluate_model
    from orchestration.release.promote import measure_on_test
    from orchestration.tracking.model import load_colorizer, log_generator_model

    config = smoke_config("model.base_filters=4", "model.dropout=0.5", *SMALL_DATA)
    config = config.replace({"metrics.kid_subset_size": 8})
    family = build_family(config)
    client = mlflow.tracking.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    run_id = client.create_run("0").info.run_id
    sketch = np.full((32, 32, 3), 255, np.uint8)
    example = (sketch, None)
    info = log_generator_model(client, run_id, family.generator, config, "generator", example)
    model = load_colorizer(info.model_uri)

    fid = "test_fid_untrained_inception"
    gate = {}
    for mode in ("inference", "training", "inference"):
        candidate = config.replace({"metrics.generator_mode": mode})
        measured = measure_on_test({"candidate": model}, candidate, "fid", limit=16)
        gate.setdefault(mode, []).append(measured["candidate"].metrics[fid])
    assert gate["training"][0] != gate["inference"][0]
    assert gate["inference"][1] == gate["inference"][0]  # the same computation: left as it was

    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # measure only
    overrides = ["metrics.kid_subset_size=8", "metrics.generator_mode=training"]
    summary = evaluate_model(info.model_uri, None, limit=16, overrides=overrides, progress=False)
    assert summary[fid] != gate["inference"][0]
