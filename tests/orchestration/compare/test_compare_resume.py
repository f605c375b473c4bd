"""A compare whose driver is killed (SIGKILL, with its local Ray) resumes: finished runs are
reused, the run cut off mid-training continues in its own MLflow run from its checkpoint, no
run is duplicated. A method that fails (NST without its VGG19 weights) is reported in the table,
and the others still finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestration.cli import main
from orchestration.tracking import tags
from tests.support.compares import PIX2PIX_TV, children, tiny_compare
from tests.support.paths import EXPERIMENTS
from tests.support.processes import ganime_command
from tests.support.ray_cluster import local_ray_cluster

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402

NST_WITHOUT_WEIGHTS = {
    "name": "nst_no_vgg",
    "experiment": str(EXPERIMENTS / "nst_smoke.yaml"),
    # No stand-in allowed and no fetching: the run fails with the assets' one-line error.
    "overrides": {"model.allow_untrained_vgg": False, "assets.auto_fetch": False},
}
DEADLINE_S = 300
EPOCHS = 5  # a window to kill a run in mid-training


def run_of(client: MlflowClient, method: str, seed: int):
    found = [
        run
        for run in children(client, "killed")
        if run.data.tags[tags.METHOD] == method and run.data.tags[tags.SEED] == str(seed)
    ]
    return found[0] if found else None


def epochs_logged(client: MlflowClient, run_id: str) -> list[int]:
    return [int(m.step) for m in client.get_metric_history(run_id, "epoch")]


def test_a_killed_compare_resumes_without_duplicating_runs_and_reports_a_failing_method(
    tmp_path, mlflow_store, capsys, monkeypatch
) -> None:
    path = tiny_compare(
        tmp_path,
        "killed",
        [PIX2PIX_TV, NST_WITHOUT_WEIGHTS],
        epochs=EPOCHS,
        max_concurrent=1,  # one run after another: seed 1 trains after seed 0 has finished
        data={"image_size": 32, "synthetic": {"count": 60, "seed": 0}},  # 6 steps an epoch
    )
    storage = str(tmp_path / "storage")
    client = MlflowClient(mlflow_store)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_store}
    env.pop("RAY_ADDRESS", None)  # its own local Ray, killed with it
    driver = subprocess.Popen(
        [*ganime_command(), "compare", str(path), "--storage", storage],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its Ray processes share its process group: killed together
    )
    # Seed-major order: pix2pix_tv seed 0, nst_no_vgg seed 0 (fails at once), pix2pix_tv seed 1.
    # Kill the driver once one pix2pix_tv run has finished and the other has trained, and
    # logged, some but not all of its epochs.
    deadline = time.monotonic() + DEADLINE_S
    try:
        while True:
            assert driver.poll() is None, "the compare ended before it could be killed"
            assert time.monotonic() < deadline, "no run reached the point to kill at"
            runs = [run for seed in (0, 1) if (run := run_of(client, "pix2pix_tv", seed))]
            done = [run for run in runs if run.info.status == "FINISHED"]
            training = [
                run
                for run in runs
                if run.info.status == "RUNNING"
                and 0 < len(epochs_logged(client, run.info.run_id)) < EPOCHS
            ]
            if done and training:
                break
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    finished_seed = int(done[0].data.tags[tags.SEED])
    cut_seed = int(training[0].data.tags[tags.SEED])
    cut_off = run_of(client, "pix2pix_tv", cut_seed)
    assert cut_off.info.status == "RUNNING"  # nobody ended it
    logged_at_kill = epochs_logged(client, cut_off.info.run_id)
    assert 1 <= len(logged_at_kill) < EPOCHS
    finished_before = run_of(client, "pix2pix_tv", finished_seed)

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    with local_ray_cluster():
        # The failing method fails again: the compare says so in its exit code and its table.
        assert main(["compare", "--resume", "killed", "--storage", storage]) == 1
    out = capsys.readouterr().out
    assert "(3 to run, 1 reused)" in out  # the finished pix2pix_tv run
    assert "nst_no_vgg  0/2 (2 failed)" in out
    assert "nst_no_vgg seeds 0, 1 failed: no VGG19 ImageNet weights for nst" in out

    runs = children(client, "killed")
    assert len(runs) == 4  # one MLflow run per method and seed, none duplicated
    resumed = run_of(client, "pix2pix_tv", cut_seed)
    assert resumed.info.run_id == cut_off.info.run_id and resumed.info.status == "FINISHED"
    assert epochs_logged(client, resumed.info.run_id) == list(range(1, EPOCHS + 1))  # none twice
    result = client.download_artifacts(resumed.info.run_id, "compare/result.json", str(tmp_path))
    # It continued from its checkpoint (written just before an epoch is logged, so maybe one on).
    assert json.loads(Path(result).read_text())["resumed_from"] >= len(logged_at_kill)
    reused = run_of(client, "pix2pix_tv", finished_seed)
    assert reused.info.end_time == finished_before.info.end_time  # not run again
    for seed in (0, 1):
        failed = run_of(client, "nst_no_vgg", seed)
        assert failed.info.status == "FAILED"
        assert "VGG19" in failed.data.tags[tags.STOP_REASON]
    parent = next(
        run for run in client.search_runs([runs[0].info.experiment_id])
        if tags.METHOD not in run.data.tags
    )  # fmt: skip
    assert parent.info.status == "FAILED"  # the table is missing a method
    assert "pix2pix_tv | 2/2" in parent.data.tags[tags.RUN_NOTE]
