"""Population Based Training on the tiny sweep, on a real local Ray cluster and MLflow store:
an exploit copies the donor's state bit for bit and explores its values within their bounds,
the lineage is on the trial's run, and a PBT sweep whose driver is killed resumes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestration.sweep.lineage import load_trial_record
from orchestration.tracking import tags
from tests.support.processes import ganime_command
from tests.support.ray_cluster import local_ray_cluster
from tests.support.sweeps import (
    GOOD,
    SELECTION_FID,
    WORSE,
    child_runs,
    tiny_sweep,
    trial_runs,
    tune_results,
)

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402

# The learning rate's range, tight above GOOD: a perturbation by 1.2 would leave it.
LOW, HIGH = 1e-12, 2.2e-3


def pbt_sweep(tmp_path, max_epochs: int, **changes):
    """The tiny sweep of GOOD and WORSE under PBT: an exploit after every epoch, the bottom half
    taking the top half's state, the rate perturbed (never resampled) within [LOW, HIGH]."""
    return tiny_sweep(
        tmp_path,
        [GOOD, WORSE],
        max_epochs=max_epochs,
        scheduler="pbt",
        sampler="random",
        asha=None,
        pbt={"interval": 1, "quantile": 0.5, "resample_probability": 0.0},
        search={"optimizer.learning_rate": {"loguniform": [LOW, HIGH]}},
        metric="ssim",  # moves with a single epoch where FID on 8 images may not
        **changes,
    )


def test_a_pbt_exploit_copies_the_donor_and_a_killed_pbt_sweep_resumes(
    tmp_path, mlflow_store, joined_cluster
) -> None:
    """Two trials, GOOD and WORSE, 3 epochs, an exploit after epochs 1 and 2: WORSE (the bottom
    half) takes GOOD's state each time and trains on under GOOD's rate perturbed within its
    bounds. The driver is killed (SIGKILL) once the first exploit is on MLflow; the resume
    finishes both trials in their runs, in two actors, with every epoch logged once and the
    exploit recorded once."""
    path = pbt_sweep(tmp_path, max_epochs=3)
    storage = tmp_path / "ray"

    def record(run):
        return load_trial_record(str(storage), "tiny", run.data.tags[tags.TRIAL_ID])

    command = [*ganime_command(), "sweep", "--storage", str(storage), "--no-progress"]
    client = MlflowClient(mlflow_store)

    driver = subprocess.Popen(
        [*command, str(path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 400
    while not any(tags.EXPLOITS in run.data.tags for run in trial_runs(client)):
        assert driver.poll() is None, driver.stderr.read()[-2000:]
        assert time.time() < deadline, "no exploit was recorded"
        time.sleep(0.3)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()

    resume_started = int(time.time())
    resumed = subprocess.run(
        [*command, "--resume", "tiny"], cwd=tmp_path, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "sweep tiny: 2 trials (2 completed)" in resumed.stdout, resumed.stdout
    # The trials trained on in the resumed driver's actors (two at most), through the sync
    # point after epoch 2: Tune, left to itself, ends every paused trial's actor at a sync
    # point and starts new ones (SynchronousPBT, PopulationVariants).
    actors = {
        step["pid"]
        for steps in tune_results(storage / "tiny").values()
        for step in steps
        if step["timestamp"] >= resume_started
    }
    assert len(actors) <= 2, actors

    runs = trial_runs(client)
    assert len(runs) == 2  # the resume continued both trials in their runs
    (parent_id,) = {run.data.tags[tags.PARENT_RUN] for run in runs}
    assert set(child_runs(client, parent_id)) == {run.data.tags[tags.TRIAL_ID] for run in runs}
    by_rate = {float(run.data.params["optimizer.learning_rate"]): run for run in runs}
    good, worse = by_rate[GOOD], by_rate[WORSE]
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "epoch")]
        assert steps == [1, 2, 3], (run.info.run_name, steps)  # each once, through the kill
        assert SELECTION_FID in run.data.metrics

    # Two trials, a quantile of one half: one exploit at each interval, the bottom trial taking
    # the top one's state. After epoch 1 that is WORSE taking GOOD's; after epoch 2 either may
    # be behind, and the exploit at the epoch the driver was killed at may be skipped.
    records = {run.info.run_id: record(run) for run in runs}
    exploits = sorted(
        ((e, run_id) for run_id, r in records.items() for e in r.exploits),
        key=lambda pair: pair[0].epoch,
    )
    assert [e.epoch for e, _ in exploits] in ([1], [1, 2])
    first, taker = exploits[0]
    assert (taker, first.donor_run_id) == (worse.info.run_id, good.info.run_id)
    assert first.before == {"optimizer.learning_rate": WORSE}
    for exploit, run_id in exploits:
        donor = next(r for r in records.values() if r.trial_id == exploit.donor_trial_id)
        # The state taken is the donor's at that epoch, bit for bit (the recipient checked
        # its variables against this digest as it restored them).
        assert exploit.digest == donor.digests[str(exploit.epoch)] != ""
        # Explored from the donor's rate within the bounds: x0.8, or x1.2 clipped to HIGH.
        start = exploit.donor_values["optimizer.learning_rate"]
        rate = exploit.after["optimizer.learning_rate"]
        assert LOW <= rate <= HIGH
        assert math.isclose(rate, start * 0.8) or math.isclose(rate, min(start * 1.2, HIGH))

        # The lineage on the trial's run, as the UI shows it.
        run = client.get_run(run_id)
        local = client.download_artifacts(run_id, "pbt/lineage.json", str(tmp_path / run_id))
        logged = json.loads(Path(local).read_text())
        assert [e["epoch"] for e in logged] == [e.epoch for e in records[run_id].exploits]
        assert run.data.tags[tags.EXPLOITS] == str(len(logged))
        assert run.data.tags[tags.SCHEDULE] == records[run_id].schedule()
        assert run.data.tags[tags.SCHEDULE].count("'s state") == len(logged)
    rates = client.get_metric_history(worse.info.run_id, "schedule.optimizer.learning_rate")
    assert [m.step for m in rates] == [1, 2, 3], rates
    assert rates[0].value == pytest.approx(WORSE) and LOW <= rates[-1].value <= HIGH


def test_a_pbt_exploit_between_two_worker_ray_train_trials_and_a_killed_sweep_resumes(
    tmp_path, mlflow_store
) -> None:
    """Trials of two workers are Ray Train runs: at the exploit, WORSE's next Train run starts
    from GOOD's epoch-1 checkpoint in storage (its workers check the state they restore
    against GOOD's digest, bit for bit), in WORSE's own MLflow run. The driver is killed
    (SIGKILL) once the exploit is on MLflow; the resumed sweep finishes both trials in their
    runs, each epoch logged once and the exploit recorded once, and leaves no placement
    group."""
    from orchestration.sweep.driver import run_sweep
    from orchestration.sweep.storage import load_saved_sweep

    path = pbt_sweep(tmp_path, max_epochs=2, trial={"workers": 2})
    storage = str(tmp_path / "ray")
    client = MlflowClient(mlflow_store)
    log = tmp_path / "driver.log"  # a file: a pipe nobody reads would fill and stall it
    with local_ray_cluster(), log.open("w") as output:  # the driver joins it (RAY_ADDRESS)
        driver = subprocess.Popen(
            [*ganime_command(), "sweep", str(path), "--storage", storage, "--no-progress"],
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 600
        while not any(tags.EXPLOITS in run.data.tags for run in trial_runs(client)):
            assert driver.poll() is None, log.read_text()[-2000:]
            assert time.time() < deadline, "no exploit was recorded"
            time.sleep(0.3)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        sweep, _ = load_saved_sweep("tiny", storage)
        outcome = run_sweep(sweep, storage=storage, resume=True, progress=False)
        left = [pg for pg in ray.util.placement_group_table().values() if pg["state"] != "REMOVED"]
    assert left == []
    assert [row.stop_reason for row in outcome.trials] == ["completed", "completed"]
    by_rate = {float(r.data.params["optimizer.learning_rate"]): r for r in trial_runs(client)}
    assert len(by_rate) == 2  # the resume continued both trials in their runs
    good, worse = by_rate[GOOD], by_rate[WORSE]
    for run in (good, worse):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "epoch")]
        assert steps == [1, 2]
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    taken = load_trial_record(storage, "tiny", worse.data.tags[tags.TRIAL_ID]).exploits
    donor = load_trial_record(storage, "tiny", good.data.tags[tags.TRIAL_ID])
    assert [(e.epoch, e.donor_run_id) for e in taken] == [(1, good.info.run_id)]
    assert taken[0].digest == donor.digests["1"] != ""
    assert LOW <= taken[0].after["optimizer.learning_rate"] <= HIGH
    worse = client.get_run(worse.info.run_id)
    assert worse.data.tags[tags.EXPLOITS] == "1"
    # The recipient trained on under the explored rate it recorded, through the kill.
    rates = client.get_metric_history(worse.info.run_id, "schedule.optimizer.learning_rate")
    assert [(m.step, m.value) for m in rates][-1] == (
        2,
        pytest.approx(taken[0].after["optimizer.learning_rate"]),
    )
    row = next(r for r in outcome.trials if r.run_id == worse.info.run_id)
    assert row.schedule == worse.data.tags[tags.SCHEDULE]
