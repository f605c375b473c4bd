"""Data-parallel training on a real local Ray cluster (2 CPUs)."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ganime_core.checkpoint import open_checkpoint
from ganime_core.families import build_family
from orchestration.training.ray_train import Scaling
from tests.support.mlflow_records import sample_steps
from tests.support.ray_cluster import local_ray_cluster, ray_actors
from tests.support.ray_internals import session_dir
from tests.support.tolerances import AdamRun

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]

# What trials rank on: the selection split, measured with the stand-in InceptionV3.
SELECTION_FID = "selection_fid_untrained_inception"


@pytest.fixture(scope="module")
def local_ray():
    with local_ray_cluster():
        yield


def test_an_unreachable_tracking_server_is_one_line_before_any_worker_starts(
    monkeypatch, capsys, tmp_path
) -> None:
    import socket

    from orchestration.cli import main
    from tests.support.paths import SMOKE

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = ray.is_initialized()
    code = main(["train", str(SMOKE), "--workers", "2", "--set", f"train.output_dir={tmp_path}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"ganime: error: MLflow tracking server http://127.0.0.1:{port}")
    assert "unreachable" in err[-1]
    assert ray.is_initialized() == started  # nothing was started


def rank_copies(name: str) -> set[Path]:
    """The copies of run `name` that Ray Train workers of this machine keep while they train
    (ray_train.worker_loop)."""
    return set(Path(tempfile.gettempdir()).glob(f"ganime-rank*/{name}"))


def train_worker_pids() -> list[int]:
    """Processes of this test's live Ray Train workers: from its own Ray cluster's actor table,
    so a busy machine's other Ray jobs are never touched."""
    return [
        actor["Pid"]
        for actor in ray_actors("RayTrainWorker")
        if actor["State"] == "ALIVE" and actor["Pid"]
    ]


def failure_decisions() -> list[str]:
    """What this Ray cluster's Train controllers decided at each failure (RETRY or RAISE, the
    count, the error), from their own logs."""
    session = session_dir()
    decisions = []
    for log in sorted((session / "logs" / "train").glob("ray-train-sys-controller-*.log")):
        for line in log.read_text().splitlines():
            if "[FailurePolicy]" in line:
                decisions.append(json.loads(line)["message"][:600])
    return decisions


def test_ganime_train_with_workers_logs_what_a_local_run_logs_and_resumes_its_checkpoint(
    local_ray, smoke_config, mlflow_store, tmp_path, capsys, monkeypatch
) -> None:
    """One training path: `ganime train` with and without --workers evaluate the same way and
    leave the same params, metrics, tags, images, models and data set input in MLflow (rank 0
    records a Ray run). And the proof that data parallelism is right: 2 workers x batch 4 reach
    the weights of 1 worker x batch 8 on the same examples (dropout off, deterministic ops,
    synchronized batch norm). Run again with more epochs and one worker failure allowed, the
    Ray job resumes from the checkpoint Ray persisted instead of starting over, in the same
    MLflow run; a worker killed mid-epoch then costs only that epoch: the restarted workers
    resume from the last checkpoint and no epoch is logged twice. (One scenario, so that one
    Ray Train run's start-up serves both resumptions.)"""
    import mlflow
    from mlflow.tracking import MlflowClient

    from orchestration.cli import main
    from orchestration.tracking.model import sketch_frame
    from orchestration.training.local import train_locally
    from tests.support.paths import SMOKE

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")  # MLflow's own setting
    common = (
        "data.synthetic.count=50",  # 40 in train/, 8 of them for selection: 4 steps of 8
        "data.selection=8",
        "model.base_filters=8",
        "model.dropout=0",
        "model.sync_batch_norm=true",
        "train.deterministic=true",
        "train.eval_every=2",
        "metrics.kid_subset_size=4",
    )
    local = train_locally(smoke_config(*common, "name=local"), progress=False)
    sets = [*common, "name=on-ray", f"train.output_dir={tmp_path / 'runs'}"]
    command = ["train", str(SMOKE), "--workers", "2", "--no-progress"]
    command += [arg for value in sets for arg in ("--set", value)]
    copies_before = rank_copies("on-ray")
    assert main(command) == 0
    assert rank_copies("on-ray") == copies_before  # each worker removed its copy of the run
    on_ray = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(local) == set(on_ray)  # the same JSON summary
    assert local["runner"] == "local" and on_ray["runner"] == "ray_train"
    assert on_ray["epochs_completed"] == 2 and on_ray["checkpoint"].endswith("epoch-0002")

    _, parallel, _ = open_checkpoint(Path(on_ray["checkpoint"]))
    _, reference, epochs = open_checkpoint(Path(local["checkpoint"]))
    initial = build_family(smoke_config(*common))  # the same seeded start both runs had
    assert epochs == 2
    # Two workers sum each gradient and batch statistic in another order than one: how far
    # that can take the weights follows from the steps taken and the longest float32 sum of a
    # step, a kernel's gradient over the global batch's 8 x 32 x 32 pixels
    # (tests/support/tolerances.py).
    steps = int(reference.optimizers()["generator_optimizer"].iterations)
    run = AdamRun.of(reference.config.optimizer, steps=steps, terms=8 * 32 * 32)
    run.assert_networks_alike(
        parallel.generator.weights, reference.generator.weights, initial.generator.weights
    )
    # It means something: training moved the weights (a tensor's largest move: 1.9e-3 in the
    # median when written) well past the 2.6e-4 rms per element the bound lets the runs differ
    # by in a large tensor (point 3 of AdamRun).
    moved = [
        np.abs(b.numpy() - start.numpy()).max()
        for b, start in zip(reference.generator.weights, initial.generator.weights, strict=True)
    ]
    per_element = run.rms_per_element
    assert np.median(moved) > 4 * per_element, (np.median(moved), per_element)

    client = MlflowClient(mlflow_store)
    mlflow.set_tracking_uri(mlflow_store)
    runs = [client.get_run(local["mlflow_run_id"]), client.get_run(on_ray["mlflow_run_id"])]

    def layout(run) -> dict[str, object]:
        run_id = run.info.run_id
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], output_format="list"
        )
        return {
            "params": set(run.data.params),
            "metrics": {k for k in run.data.metrics if not k.startswith("system/")},
            "tags": set(run.data.tags),
            "artifacts": {a.path for a in client.list_artifacts(run_id)},
            "samples": sample_steps(client, run_id),
            "fid": [m.step for m in client.get_metric_history(run_id, SELECTION_FID)],
            "models": sorted(m.name for m in models if m.source_run_id == run_id),
            "inputs": [d.dataset.digest for d in run.inputs.dataset_inputs],
            "status": run.info.status,
        }

    assert layout(runs[0]) == layout(runs[1])
    assert "system/cpu_utilization_percentage" in runs[0].data.metrics  # CPU, memory, disk
    run = runs[1]  # what rank 0 recorded, in full
    assert run.info.status == "FINISHED"
    assert run.data.params["model.lambda_tv"] == "0.0001"
    assert run.data.params["train.batch_size"] == "8"
    assert run.data.tags["ganime.family"] == "pix2pix"
    assert len(run.data.tags["ganime.data_hash"]) == 16
    assert len(run.data.tags["ganime.git_commit"]) in (40, len("unknown"))
    assert [m.step for m in client.get_metric_history(run.info.run_id, "gen_l1")] == [1, 2]
    (fid,) = client.get_metric_history(run.info.run_id, "selection_fid_untrained_inception")
    # Named after its split and its backbone
    assert fid.step == 2 and "selection_fid" not in run.data.metrics
    assert run.data.metrics["selection_best_fid_untrained_inception"] == pytest.approx(fid.value)
    assert {
        "selection_ssim",
        "selection_kid_mean_untrained_inception",
        "images_per_second",
    } <= set(run.data.metrics)
    assert sample_steps(client, run.info.run_id) == [1, 2]
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        output_format="list",
    )
    assert sorted(m.name for m in models) == ["best_generator", "final_generator"]
    colorizer = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
    assert colorizer.metadata.signature is not None
    (out,) = colorizer.predict(sketch_frame([np.zeros((40, 24, 3), np.uint8)]))["image"]
    assert out.shape == (40, 24, 3) and out.dtype == np.uint8

    # The rerun: epochs 3 and 4. A worker is killed once epoch 3's checkpoint is registered
    # (Ray writes this snapshot then: from then on a restart resumes from it), while epoch 4
    # trains and evaluates.
    registered = tmp_path / "runs" / "ray" / "on-ray" / "checkpoint_manager_snapshot.json"
    rerun = [*command, "--max-failures", "1", "--set", "train.epochs=4"]
    outcome = {}

    def extend() -> None:
        try:
            outcome["code"] = main(rerun)
        except Exception as exc:  # noqa: BLE001  reported with Ray's own decisions
            outcome["error"] = exc

    job = threading.Thread(target=extend)
    job.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.is_alive():
        if "epoch-0003" in registered.read_text():
            break
        time.sleep(0.1)
    assert "epoch-0004" not in registered.read_text(), "too late: epoch 4 already finished"
    victims = train_worker_pids()
    assert len(victims) == 2
    os.kill(victims[-1], signal.SIGKILL)  # mid-epoch 4
    job.join(timeout=600)

    assert outcome.get("code") == 0, f"{outcome.get('error')!r}; {failure_decisions()}"
    extended = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert extended["epochs_completed"] == 4 and extended["checkpoint"].endswith("epoch-0004")
    # The restarted workers began from the rerun's own epoch-3 checkpoint, which began from
    # the first run's epoch 2: no epoch was trained twice.
    assert extended["metrics"]["resumed_from"] == 3
    assert extended["mlflow_run_id"] == run.info.run_id
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "gen_l1")]
    assert steps == [1, 2, 3, 4]  # a run that started over would log epochs 1 and 2 again
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_a_run_whose_workers_cannot_start_fails_in_one_line_instead_of_waiting(
    local_ray, smoke_config, tmp_path, monkeypatch
) -> None:
    """A sweep's Ray Train trial on a full cluster: 3 one-CPU workers can never be placed on 2
    CPUs. With the trial's settings it fails after the start timeout, saying why."""
    from ray.train import TrainingFailedError

    from orchestration.training.ray_train import (
        WORKER_START_TIMEOUT_ENV,
        failure_reason,
        make_trainer,
    )

    monkeypatch.setenv(WORKER_START_TIMEOUT_ENV, "5")
    trainer = make_trainer(
        smoke_config("model.base_filters=8"),
        Scaling(workers=3),
        storage=str(tmp_path / "ray"),
        name="full",
        tracking_uri="sqlite:///unused.db",
        run_id="unused",
        controller_failure_limit=0,  # as ray_train_trial passes it
    )
    with pytest.raises(TrainingFailedError) as failed:
        trainer.fit()
    assert failure_reason(failed.value).startswith("its workers could not be started within 5 s")
