"""Sweeps on a real local Ray cluster (2 CPUs) with a real MLflow store: the parent/child layout,
ASHA stopping a worse trial, a stopped and a killed driver resumed, a NaN trial failing alone,
and Ray Train trials resuming after an interrupt and releasing their workers whenever they
end."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestration.sweep.driver import run_sweep
from orchestration.sweep.spec import load_sweep
from orchestration.sweep.storage import load_saved_sweep
from orchestration.tracking import tags
from orchestration.tracking.tags import STOP_REASON as STOP_TAG
from orchestration.tracking.tags import SWEEP as SWEEP_TAG
from orchestration.tracking.tags import TRIAL_ID as TRIAL_TAG
from tests.support.mlflow_records import sample_steps
from tests.support.processes import ganime_command
from tests.support.ray_cluster import local_ray_cluster, ray_actors
from tests.support.sweeps import (
    GOOD,
    NAN,
    SELECTION_FID,
    WORSE,
    child_runs,
    tiny_sweep,
    trial_errors,
    trial_runs,
    tune_results,
    with_an_epoch,
)

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402


def test_a_sweep_logs_its_trials_under_one_parent_and_asha_stops_the_worse(
    tmp_path, mlflow_store
) -> None:
    """...and decides on the selection split alone: the test folder holds no image, and only
    the promote gate, the first to read it, notices."""
    from ganime_core.data.pipeline import data_root
    from ganime_core.errors import DataError
    from orchestration.release.promote import promote

    sweep = load_sweep(tiny_sweep(tmp_path, [GOOD, WORSE]))
    test_folder = data_root(sweep.base.data) / "val"  # the generated data the trials will read
    for image in test_folder.iterdir():
        image.write_bytes(b"poison: not an image")
    with local_ray_cluster():
        outcome = run_sweep(sweep, storage=str(tmp_path / "ray"), progress=False)
        controllers = ray_actors("TrainController")

    assert controllers == []  # 1-worker trials train in their Tune actor: no Ray Train run
    results = tune_results(tmp_path / "ray" / "tiny")  # Tune's own record of every step
    assert len(results) == 2
    steps = [step for trial in results.values() for step in trial]
    # One reused actor ran both trials: TensorFlow imported once, InceptionV3 built once.
    assert len({step["pid"] for step in steps}) == 1
    assert {step["actor_backbone_builds"] for step in steps} == {1}

    by_rate = {row.params["optimizer.learning_rate"]: row for row in outcome.trials}
    assert set(by_rate) == {GOOD, WORSE}
    assert by_rate[GOOD].stop_reason == "completed" and by_rate[GOOD].epochs == 2
    assert by_rate[WORSE].stop_reason == "stopped early by ASHA at epoch 1"
    assert by_rate[WORSE].epochs == 1
    assert by_rate[WORSE].metrics[SELECTION_FID] > by_rate[GOOD].metrics[SELECTION_FID]
    assert outcome.best.params["optimizer.learning_rate"] == GOOD

    client = MlflowClient(mlflow_store)
    parent = client.get_run(outcome.parent_run_id)
    assert parent.data.tags[SWEEP_TAG] == "tiny" and parent.info.status == "FINISHED"
    # MLflow's UI opens the experiment as training runs, and the parent run describes the sweep.
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags[tags.EXPERIMENT_KIND] == tags.EXPERIMENT_KIND_TRAINING
    note = parent.data.tags[tags.RUN_NOTE]
    assert "**Best: trial 1**" in note and "| trial |" in note and "completed" in note
    assert parent.data.params["search.optimizer.learning_rate"] == "loguniform(1e-12, 1e+30)"
    assert parent.data.params["sampler"] == "Optuna TPE (seed 0, 2 random first)"
    assert parent.data.params["scheduler"].startswith("ASHA on epoch: grace period 1, max 2 ")
    assert float(parent.data.params["best.optimizer.learning_rate"]) == GOOD
    assert parent.data.metrics["selection_best_fid_untrained_inception"] == pytest.approx(
        by_rate[GOOD].metrics["selection_fid_untrained_inception"]
    )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "trials.md", f"{SELECTION_FID}_vs_params.png"} <= artifacts
    table = client.download_artifacts(parent.info.run_id, "trials.csv", str(tmp_path))
    assert len(list(csv.DictReader(io.StringIO(Path(table).read_text())))) == 2

    children = child_runs(client, outcome.parent_run_id)
    assert len(children) == 2
    for run in children.values():
        rate = float(run.data.params["optimizer.learning_rate"])
        assert run.info.run_name.startswith("tiny-t0") and "learning_rate=" in run.info.run_name
        assert run.data.tags[SWEEP_TAG] == "tiny" and run.data.tags[STOP_TAG]
        assert run.data.params["model.base_filters"] == "8"  # every config value as a param
        history = client.get_metric_history(run.info.run_id, "selection_fid_untrained_inception")
        assert [m.step for m in history] == list(range(1, 3 if rate == GOOD else 2))
        assert sample_steps(client, run.info.run_id) == list(range(1, 3 if rate == GOOD else 2))
    good = next(run for run in children.values() if run.data.tags[STOP_TAG] == "completed")
    assert good.info.status == "FINISHED"
    models = {m.name for m in client.search_logged_models([good.info.experiment_id])}
    assert {"best_generator", "final_generator"} <= models

    with pytest.raises(DataError, match=f"no usable image in {re.escape(str(test_folder))}"):
        promote(mlflow_store, sweep="tiny", limit=8)


def test_a_stopped_or_killed_driver_resumes_its_sweep_and_a_nan_trial_fails_alone(
    tmp_path, mlflow_store, joined_cluster
) -> None:
    """One sweep through a driver's life. SIGTERM (a scheduler's stop; the driver takes Ctrl-C's
    path) mid-trial: it exits 130 with the line that resumes it, the trial it cut off is recorded
    as interrupted (not an ASHA stop, not a failure) and the parent run stays open. The resume is
    then killed outright (SIGKILL, no clean-up) once that trial completed; a second resume keeps
    the finished trial, runs the NaN trial, which fails alone, and finishes the parent run.
    The drivers join the test's Ray cluster: a killed driver's job, its trial actor with it,
    ends without it. (A driver killed with the local Ray it started: test_compare_resume.)"""
    path = tiny_sweep(tmp_path, [GOOD, NAN], max_epochs=3)
    command = [*ganime_command(), "sweep", "--storage", str(tmp_path / "ray"), "--no-progress"]
    client = MlflowClient(mlflow_store)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*command, *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, which SIGKILL ends whole
        )

    def wait_for(driver: subprocess.Popen, find, what: str):
        deadline = time.time() + 400
        while time.time() < deadline and driver.poll() is None:
            found = find(trial_runs(client))
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError(f"{what} never happened (driver exit code {driver.poll()})")

    driver = start(str(path))
    first = wait_for(  # epoch 1 is logged: the first trial is a third of the way
        driver, lambda trials: with_an_epoch(client, trials), "the first trial's epoch 1"
    )
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 130
    assert stderr.strip().splitlines()[-1].endswith("ganime sweep --resume tiny continues it")
    interrupted = client.get_run(first.info.run_id)
    assert interrupted.data.tags[STOP_TAG].startswith("interrupted at epoch ")
    assert interrupted.info.status == "KILLED"
    (parent,) = [
        r for r in client.search_runs([first.info.experiment_id]) if TRIAL_TAG not in r.data.tags
    ]
    assert parent.info.status == "RUNNING"  # the sweep is not finished

    driver = start("--resume", "tiny")
    wait_for(
        driver,
        lambda trials: [r for r in trials if r.data.tags.get(STOP_TAG) == "completed"],
        "the first trial's completion",
    )
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()

    resumed = subprocess.run(
        [*command, "--resume", "tiny"], cwd=tmp_path, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    failures = trial_errors(tmp_path / "ray" / "tiny")
    assert "sweep tiny: 2 trials (1 completed, 1 failed)" in resumed.stdout, (
        resumed.stdout,
        failures,
    )
    runs = client.search_runs([first.info.experiment_id])
    assert [r.info.run_id for r in runs if TRIAL_TAG not in r.data.tags] == [parent.info.run_id]
    children = child_runs(client, parent.info.run_id)
    assert len(children) == 2  # no trial ran twice into a new run
    finished = client.get_run(first.info.run_id)
    assert finished.data.tags[STOP_TAG] == "completed" and finished.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(first.info.run_id, "epoch")]
    assert steps == [1, 2, 3]  # no epoch logged twice, none trained again after completion
    nan = next(run for run in children.values() if run.info.run_id != first.info.run_id)
    assert nan.info.status == "FAILED"
    reason = nan.data.tags[STOP_TAG]
    assert reason.startswith("failed: loss ") and " became nan at epoch 1" in reason
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


def test_two_worker_trials_resume_after_an_interrupt_and_release_their_workers(
    tmp_path, mlflow_store
) -> None:
    """Trials of two workers are Ray Train runs. SIGTERM to the driver while trial 1 trains:
    it exits 130 and the trial is recorded as interrupted. `--resume`: trial 1 continues from
    the checkpoint Ray Train persisted, in its own MLflow run, and completes; ASHA stops trial
    2 at epoch 1 while its run waits to start epoch 2, whether or not Tune had trial 1's epoch
    1 before the interrupt (the resumed ASHA has it from result.json, ResumableASHA). Once the
    sweep is done no placement group remains: a Ray Train trial aborts its controller when Tune
    stops it, rather than leaving the group to Ray Train's cleaner, which needs the state API
    (off here, as on a node without the dashboard) and on a busy node took minutes. The first
    driver joins this test's cluster (RAY_ADDRESS), so every Train controller is in its actor
    table."""
    path = tiny_sweep(tmp_path, [GOOD, WORSE], max_epochs=3, trial={"workers": 2})
    storage = str(tmp_path / "ray")
    client = MlflowClient(mlflow_store)

    with local_ray_cluster():
        driver = subprocess.Popen(
            [*ganime_command(), "sweep", str(path), "--storage", storage, "--no-progress"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 400
        while (first := with_an_epoch(client, trial_runs(client))) is None:
            assert driver.poll() is None and time.time() < deadline, "trial 1 logged no epoch"
            time.sleep(0.3)
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=300)
        assert driver.returncode == 130, stderr[-2000:]
        interrupted = client.get_run(first.info.run_id)
        assert interrupted.data.tags[STOP_TAG].startswith("interrupted at epoch ")

        sweep, _ = load_saved_sweep("tiny", storage)
        outcome = run_sweep(sweep, storage=storage, resume=True, progress=False)
        left = live_placement_groups()
        controllers = ray_actors("TrainController")

    assert left == [], "an ended trial still holds its workers' placement group"
    assert len(controllers) == 3  # trial 1 interrupted and resumed, trial 2: all Ray Train runs
    by_rate = {row.params["optimizer.learning_rate"]: row for row in outcome.trials}
    assert by_rate[GOOD].stop_reason == "completed" and by_rate[GOOD].epochs == 3
    assert by_rate[WORSE].stop_reason == "stopped early by ASHA at epoch 1", outcome.trials
    assert by_rate[GOOD].run_id == first.info.run_id  # resumed in its own MLflow run
    assert len(child_runs(client, outcome.parent_run_id)) == 2
    for rate, epochs in ((GOOD, [1, 2, 3]), (WORSE, [1])):
        history = client.get_metric_history(by_rate[rate].run_id, "epoch")
        assert [m.step for m in history] == epochs  # none logged twice
    # Trial 1's last report came from a Train run that restored a checkpoint, not epoch 0.
    resumed = [steps[-1] for steps in tune_results(Path(storage) / "tiny").values()]
    assert max(step["resumed_from"] for step in resumed) >= 1
    assert client.get_run(first.info.run_id).info.status == "FINISHED"


def live_placement_groups() -> list[dict]:
    """Placement groups not removed, a few seconds after a trial ended (removal is async)."""
    deadline = time.time() + 10
    while time.time() < deadline and _live():
        time.sleep(0.5)
    return _live()


def _live() -> list[dict]:
    return [pg for pg in ray.util.placement_group_table().values() if pg["state"] != "REMOVED"]
