"""Promotion to the MLflow Model Registry behind the held-out gate, rollback, and the registered
pyfunc model: loaded back, and served over HTTP on 127.0.0.1. Real SQLite MLflow stores; the
runs are constructed here, with generators whose held-out FIDs are far apart."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.support.paths import SMOKE

# Untrained-backbone FIDs of these 1x1-conv "generators" on smoke.yaml's first 16 val images at
# a 75 px backbone: identity (the sketch itself) ~1.9, black ~13, grey ~32.
GENERATORS = {
    "identity": (np.eye(3), [0.0, 0.0, 0.0]),
    "black": (np.zeros((3, 3)), [-1.0, -1.0, -1.0]),
    "grey": (np.zeros((3, 3)), [0.0, 0.0, 0.0]),
}
HOLDOUT = ["--limit", "16", "--metric", "fid"]


@pytest.fixture
def store(mlflow_store: str, cache_dir: Path):
    """A client of the test's MLflow store, which the fluent API uses too."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(mlflow_store)
    return MlflowClient(mlflow_store)


@pytest.fixture
def config(cache_dir: Path):
    from ganime_core.config import load_config

    return load_config(SMOKE, ["metrics.backbone_size=75"])


def pointwise(name: str):
    import keras

    kernel, bias = GENERATORS[name]
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    model.layers[-1].set_weights(
        [np.asarray(kernel, np.float32).reshape(1, 1, 3, 3), np.asarray(bias, np.float32)]
    )
    return model


def log_run(client, experiment_id, config, generators, fids, *, tags=None, status="FINISHED"):
    """A training run as tracking.TrainingTracker leaves it: its FID history, and a
    best_generator for each new best (the last one is the best)."""
    from orchestration.tracking.model import log_generator_model

    run = client.create_run(experiment_id, tags={"ganime.data_hash": "d" * 16, **(tags or {})})
    for epoch, fid in enumerate(fids, start=1):
        client.log_metric(run.info.run_id, "selection_fid_untrained_inception", fid, step=epoch)
    for generator in generators if isinstance(generators, list) else [generators]:
        example = np.zeros((32, 32, 3), np.uint8)
        log_generator_model(
            client, run.info.run_id, generator, config, "best_generator", (example, None)
        )
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def champion(client) -> str:
    return str(client.get_model_version_by_alias("ganime-pix2pix", "champion").version)


@pytest.mark.parametrize(
    ("metric", "candidate", "current", "margin", "promoted"),
    [
        ("fid", 10.0, None, 0.0, True),
        ("fid", 9.0, 10.0, 0.0, True),
        ("fid", 9.5, 10.0, 1.0, False),  # better, but by less than the margin
        ("fid", 10.0, 10.0, 0.0, False),  # a tie is not a win
        ("kid", 0.02, 0.01, 0.0, False),
        ("ssim", 0.8, 0.7, 0.05, True),  # higher is better
        ("ssim", 0.7, 0.8, 0.0, False),
    ],
)
def test_the_gate_compares_in_the_metrics_direction_with_a_margin(
    metric, candidate, current, margin, promoted
) -> None:
    from orchestration.release.promote import judge

    assert judge(metric, candidate, current, margin).promote is promoted


@pytest.mark.slow
def test_promote_picks_the_sweeps_best_trial_and_tags_its_lineage(store, config, capsys) -> None:
    from orchestration.cli import main

    experiment = store.create_experiment("tiny-sweep")
    parent = store.create_run(experiment, tags={"ganime.sweep": "tiny-sweep"})
    runs = {}
    for number, (generators, fids, status) in enumerate(
        [
            ("identity", [9.0, 7.0], "FINISHED"),
            (["black", "grey"], [8.0, 5.0], "KILLED"),  # stopped by ASHA; best logged: the pick
            ("black", [6.0, 6.5], "FINISHED"),
            ("identity", [1.0], "FAILED"),  # NaN later: never a candidate
        ],
        start=1,
    ):
        runs[number] = log_run(
            store,
            experiment,
            config,
            [pointwise(name) for name in generators]
            if isinstance(generators, list)
            else pointwise(generators),
            fids,
            status=status,
            tags={
                "ganime.sweep": "tiny-sweep",
                "ganime.trial_id": f"trial{number}",
                "ganime.trial_number": str(number),
                "mlflow.parentRunId": parent.info.run_id,
            },
        )

    assert main(["promote", "--sweep", "tiny-sweep", *HOLDOUT, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert runs[2] in out and "would register" in out and "dry run" in out
    assert store.search_registered_models() == []  # the dry run changed nothing

    assert main(["promote", "--sweep", "tiny-sweep", *HOLDOUT]) == 0
    out, err = capsys.readouterr()
    assert "register ganime-pix2pix v1; move @champion to it: there is no champion yet" in out
    assert "already exists" not in out + err  # a fresh store: the model is new, and says so
    assert store.get_registered_model("ganime-pix2pix").description  # what it is, in the UI
    assert "#/models/ganime-pix2pix" in out  # where to see it in the UI
    version = store.get_model_version("ganime-pix2pix", champion(store))
    # The version's page in the UI says why the gate moved champion, and on what.
    assert version.description.startswith("**Promoted**")
    assert "test split (never used to choose)" in version.description
    assert runs[2] in version.description
    tags = version.tags
    assert tags["ganime.run_id"] == runs[2]
    assert (tags["ganime.sweep"], tags["ganime.trial_id"]) == ("tiny-sweep", "trial2")
    assert tags["ganime.config_hash"] == config.fingerprint()
    assert tags["ganime.data_hash"] == "d" * 16
    assert tags["ganime.backbone"].startswith("inception_v3/untrained")
    assert tags["ganime.holdout.n"] == "16" and tags["ganime.holdout.split"] == "test"
    # The newest best_generator (grey, ~32), re-measured: not black's ~13, nor the logged 5.0.
    assert float(tags["ganime.holdout.test_fid_untrained_inception"]) > 20
    assert tags["ganime.gate"].startswith("promoted")


@pytest.mark.slow
def test_the_gate_refuses_a_worse_model_and_rollback_restores_the_champion(
    store, config, capsys
) -> None:
    from orchestration.cli import main

    experiment = store.create_experiment("runs")
    # Logged FIDs say the opposite of the held-out ones: the gate must not trust them.
    grey, identity, black = (
        log_run(store, experiment, config, pointwise(name), [fid])
        for name, fid in (("grey", 1.0), ("identity", 50.0), ("black", 0.5))
    )

    def promote(run_id: str, *extra: str) -> str:
        assert main(["promote", "--run", run_id, *HOLDOUT, *extra]) == 0
        return capsys.readouterr().out

    assert "no champion yet" in promote(grey)
    assert champion(store) == "1"

    out = promote(identity)
    assert "v2; move @champion to it" in out and champion(store) == "2"
    assert store.get_model_version("ganime-pix2pix", "2").tags["ganime.previous_champion"] == "1"

    out = promote(black)
    assert "@champion stays on v2" in out and "not better" in out
    assert champion(store) == "2"
    refused = store.get_model_version("ganime-pix2pix", "3")
    assert refused.tags["ganime.gate"].startswith("not promoted")

    out = promote(grey, "--min-improvement", "1000")  # registered before: the same version
    assert "v1 (registered before); @champion stays on v2" in out and champion(store) == "2"
    assert "champion itself" in promote(identity)
    assert len(store.search_model_versions("name = 'ganime-pix2pix'")) == 3

    assert main(["promote", "--rollback", "ganime-pix2pix", "--dry-run"]) == 0
    assert champion(store) == "2"
    assert main(["promote", "--rollback", "ganime-pix2pix"]) == 0
    assert "from v2 back to v1" in capsys.readouterr().out
    assert champion(store) == "1"
    assert main(["promote", "--rollback", "ganime-pix2pix"]) == 2  # v1 was the first champion
    assert "no earlier one" in capsys.readouterr().err


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def unet_model(store, config):
    """The smoke config's real U-Net generator, logged as a model: (model_id, family)."""
    import keras

    from ganime_core.families import build_family
    from orchestration.tracking.model import log_generator_model

    keras.utils.set_random_seed(0)
    family = build_family(config)
    run_id = store.create_run("0").info.run_id  # in the Default experiment
    example = np.zeros((32, 32, 3), np.uint8)
    info = log_generator_model(
        store, run_id, family.generator, config, "best_generator", (example, None)
    )
    return info.model_id, family


def test_a_model_logged_under_the_pyfunc_class_s_old_name_unpickles_into_it() -> None:
    """Before it was ColorizerModel the class was `Colorizer`; MLflow pickled the logged model
    by that name (module and class), which must still find the class."""
    import pickle

    from orchestration.tracking.model import ColorizerModel

    old = b"corchestration.tracking.model\nColorizer\n."  # pickle protocol 0: a global by name
    assert pickle.loads(old) is ColorizerModel


@pytest.mark.slow
def test_the_pyfunc_model_round_trips_arrays_bytes_paths_and_data_uris(
    unet_model, tmp_path
) -> None:
    import mlflow

    from ganime_core.inference import colorize_images

    model_id, family = unet_model
    model = mlflow.pyfunc.load_model(f"models:/{model_id}")
    assert model.metadata.signature is not None
    assert model.metadata.saved_input_example_info is not None

    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    odd = rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)
    wide = rng.integers(0, 256, (20, 64, 3), dtype=np.uint8)
    path = tmp_path / "wide.png"
    path.write_bytes(png_bytes(wide))
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(odd)).decode()
    frame = pd.DataFrame({"image": [square, odd, png_bytes(wide), str(path), uri, odd.tolist()]})
    out = list(model.predict(frame)["image"])
    assert [image.shape for image in out] == [
        (32, 32, 3),
        (37, 23, 3),
        (20, 64, 3),
        (20, 64, 3),
        (37, 23, 3),
        (37, 23, 3),
    ]
    assert all(image.dtype == np.uint8 for image in out)
    (direct,) = colorize_images(family.colorizer(), [square], 32)
    assert np.abs(out[0].astype(int) - direct.astype(int)).max() <= 1
    np.testing.assert_array_equal(out[2], out[3])  # bytes and path of one file
    np.testing.assert_array_equal(out[1], out[4])  # array and data URI of one image

    bad = pd.DataFrame({"image": [square, b"not an image"]})
    with pytest.raises(Exception, match="row 1"):
        model.predict(bad)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_the_champion_is_served_over_http_on_loopback(unet_model, store, tmp_path) -> None:
    import mlflow

    model_id, _ = unet_model
    version = mlflow.register_model(f"models:/{model_id}", "ganime-pix2pix").version
    store.set_registered_model_alias("ganime-pix2pix", "champion", version)

    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_cli),
            "models",
            "serve",
            "-m",
            "models:/ganime-pix2pix@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        # mlflow starts `uvicorn` by name: the venv's bin must be on PATH, as when activated.
        env={
            **os.environ,
            "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not answer /ping in 180 s"
            time.sleep(1)

        sketch = np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)
        uri = "data:image/png;base64," + base64.b64encode(png_bytes(sketch)).decode()
        body = {"dataframe_split": {"columns": ["image"], "data": [[sketch.tolist()], [uri]]}}
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.load(response)["predictions"]
        images = [np.asarray(row["image"], np.uint8) for row in predictions]
        assert [image.shape for image in images] == [(24, 40, 3), (24, 40, 3)]
        np.testing.assert_array_equal(images[0], images[1])
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
