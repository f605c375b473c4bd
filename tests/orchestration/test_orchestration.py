"""Orchestration without Ray workers: the driver's imports, how workers reach the tracking
server, and tracking that never stops training. (The cluster files: test_cluster.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO


def test_the_driver_and_the_train_controller_do_not_import_tensorflow() -> None:
    """A Tune driver or Train controller that imports TensorFlow pays seconds for nothing: the
    driver builds the trainer, the controller unpickles it, neither may import TensorFlow."""
    code = """
import sys
import ray.cloudpickle as pickle
import orchestration.cli, orchestration.sweep.driver, ganime_core.pretrained
from ganime_core.config import load_config
from orchestration.training.ray_train import Scaling, make_trainer
config = load_config("experiments/smoke.yaml")
trainer = make_trainer(config, Scaling(workers=2), storage="/tmp/unused", name="x",
                       tracking_uri="sqlite:////tmp/unused.db", run_id="r")
pickle.loads(pickle.dumps(trainer))
print("tensorflow" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_localhost_tracking_server_is_given_to_workers_at_the_drivers_address(
    monkeypatch,
) -> None:
    import ray

    from orchestration.training.ray_train import reachable_from_workers

    monkeypatch.setattr(ray, "nodes", lambda: [{}, {}])
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "10.0.0.5")
    assert reachable_from_workers("http://127.0.0.1:5000") == "http://10.0.0.5:5000"
    assert reachable_from_workers("http://mlflow.internal:5000") == "http://mlflow.internal:5000"
    assert reachable_from_workers("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    monkeypatch.setattr(ray, "nodes", lambda: [{}])
    assert reachable_from_workers("http://localhost:5000") == "http://localhost:5000"


def test_a_transient_tracking_error_is_retried_and_a_lasting_one_never_stops_training(
    tmp_path, caplog
) -> None:
    from orchestration.tracking.runs import RunLogger

    logger = RunLogger(f"sqlite:///{tmp_path / 'm.db'}", run_id="none", backoff_seconds=0.0)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("server restarting")
        return "logged"

    assert logger.retrying("metrics", flaky) == "logged" and len(calls) == 3

    def down() -> None:
        raise ConnectionError("server gone")

    with caplog.at_level("WARNING"):
        assert logger.retrying("metrics", down) is None  # no exception reaches the train loop
    assert "MLflow: metrics failed 4 times, skipped (server gone)" in caplog.text


def test_logging_a_model_mid_run_leaves_the_run_running(smoke_config, tmp_path) -> None:
    import keras
    import numpy as np
    from mlflow.tracking import MlflowClient

    from orchestration.tracking.model import log_generator_model

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    generator = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    log_generator_model(
        client,
        run_id,
        generator,
        smoke_config(),
        "best_generator",
        (np.zeros((32, 32, 3), np.uint8), None),
    )
    assert client.get_run(run_id).info.status == "RUNNING"  # the UI must not say FINISHED yet


def test_a_failed_train_run_is_told_by_its_lowest_failing_rank_in_one_line() -> None:
    from ray.train import WorkerGroupError

    from ganime_core.train import NonFiniteLossError
    from orchestration.training.ray_train import failure_reason

    nan = NonFiniteLossError("loss gen_total became nan at epoch 1, step 2; lower ...")
    crash = RuntimeError("Traceback (most recent call last):\n  ...\nRuntimeError: disk full")
    error = WorkerGroupError("2 workers failed", {1: crash, 0: nan})
    assert failure_reason(error) == str(nan)
    assert failure_reason(WorkerGroupError("1 failed", {1: crash})) == "RuntimeError: disk full"


def test_a_trial_whose_workers_never_start_fails_in_one_line_naming_the_setting(
    monkeypatch,
) -> None:
    """A busy or full cluster: Ray Train gives up starting the worker group after its timeout,
    and the user reads why and which setting waits longer."""
    from ray.train import ControllerError

    from orchestration.ray_internals import WorkerGroupStartupTimeoutError
    from orchestration.training.ray_train import WORKER_START_TIMEOUT_ENV, failure_reason

    monkeypatch.setenv(WORKER_START_TIMEOUT_ENV, "300")
    reason = failure_reason(ControllerError(WorkerGroupStartupTimeoutError(num_workers=2)))
    assert "\n" not in reason
    assert reason.startswith("its workers could not be started within 300 s")
    assert f"${WORKER_START_TIMEOUT_ENV}" in reason


def test_one_module_owns_each_vocabulary() -> None:
    """Tag keys are spelled only in tracking/tags.py, metric names only in
    ganime_core/metrics/names.py: a second spelling is how a renamed key silently splits."""
    import re

    tag = re.compile(r"[\"'](ganime|mlflow)\.[a-z_]+(\.[a-z_]+)*[\"']")
    metric = re.compile(
        r"get_metric_history\([^)]*[\"']|Metric\([\"']|metrics\[[\"'](fid|kid|ssim|epoch)"
    )
    owners = {REPO / "orchestration/tracking/tags.py", REPO / "ganime_core/metrics/names.py"}
    offenders = []
    for path in [*(REPO / "orchestration").rglob("*.py"), *(REPO / "ganime_core").rglob("*.py")]:
        if path in owners:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if (tag.search(line) and "mlflow.data.context" not in line) or metric.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_train_run_has_no_placement_group_cleaner_to_remove_its_live_workers(tmp_path) -> None:
    """Ray 2.60's cleaner takes a controller the state API does not report for a dead one and
    removes its live run's placement group (seen in CI); GANime's trainer leaves it out, and
    Ray Data's callback (a DatasetManager actor for a run without datasets), and keeps every
    other callback Ray sets up."""
    from ganime_core.config import load_config
    from orchestration.training.ray_train import Scaling, make_trainer
    from tests.support.ray_internals import train_callbacks, unwanted_train_callbacks

    trainer = make_trainer(
        load_config(REPO / "experiments" / "smoke.yaml"),
        Scaling(workers=2),
        storage=str(tmp_path),
        name="x",
        tracking_uri="sqlite:////tmp/unused.db",
        run_id="r",
    )
    ours, theirs = train_callbacks(trainer)
    left_out = unwanted_train_callbacks()
    assert not any(isinstance(c, left_out) for c in ours)
    assert [type(c) for c in theirs if not isinstance(c, left_out)] == [type(c) for c in ours]
    assert {type(c) for c in theirs} >= set(left_out)  # Ray's has them


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_a_run_killed_between_its_checkpoint_and_its_record_logs_that_epoch_on_resume(
    smoke_config, mlflow_store
) -> None:
    """The checkpoint is written before its epochs are logged; a kill in between (the train
    loop checkpointed, the sink never ran) must not leave the resumed run without them: the
    resume logs the checkpoint's epochs MLflow lacks (metrics, samples, best and final
    generators), once."""
    from mlflow.tracking import MlflowClient

    from ganime_core.train import TrainingRun
    from orchestration.tracking.registry import Registry
    from orchestration.tracking.runs import open_run
    from orchestration.tracking.sink import BEST_GENERATOR, FINAL_GENERATOR
    from orchestration.training.local import LocalTraining
    from tests.support.mlflow_records import sample_steps

    config = smoke_config("train.epochs=2", "train.eval_epochs=[2]", "train.checkpoint_every=1")
    run_id = open_run(config, mlflow_store, job="killed")
    training = LocalTraining(config, mlflow_store, run_id, progress=False)
    training.epoch()  # epoch 1: checkpointed and logged
    training.close(None)
    silent = TrainingRun(config, progress=False)  # epoch 2: checkpointed, then "killed"
    two = silent.run_epoch()
    assert two.checkpoint is not None and two.improved and two.last
    client = MlflowClient(mlflow_store)
    assert [m.step for m in client.get_metric_history(run_id, "epoch")] == [1]

    for _ in range(2):  # resumed twice: the second finds everything logged
        resumed = LocalTraining(config, mlflow_store, run_id, progress=False)
        assert resumed.finished and resumed.run.resumed_from == 2
        resumed.close(None)
    assert [m.step for m in client.get_metric_history(run_id, "epoch")] == [1, 2]
    fid = client.get_metric_history(run_id, "selection_fid_untrained_inception")
    assert [(m.step, m.value) for m in fid] == [
        (2, two.metrics()["selection_fid_untrained_inception"])
    ]
    assert sample_steps(client, run_id) == [1, 2]
    run = client.get_run(run_id)
    models = Registry(mlflow_store).logged_models(run)
    assert {BEST_GENERATOR, FINAL_GENERATOR} <= set(models)
