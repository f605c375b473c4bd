"""A resumed sweep's ASHA stops what the uninterrupted sweep would have stopped: the rungs
are rebuilt from what the trials reported before the interrupt (ray_internals.ResumableASHA).
Tune here runs a function that only reports, no TensorFlow: the scheduler is what is tested."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune

from orchestration.ray_internals import ResumableASHA
from tests.support.ray_cluster import local_ray_cluster
from tests.support.sweeps import tune_results

pytestmark = pytest.mark.slow  # starts Ray

EPOCHS = 3


def report_quality(config: dict) -> None:
    """Reports `quality` x epoch; fails before its first report while `interrupt` names a
    file (the run that the resume continues)."""
    if Path(config["interrupt"]).exists() and config["quality"] < 1:
        raise RuntimeError("interrupted before its first report")
    for epoch in range(1, EPOCHS + 1):
        tune.report({"epoch": epoch, "score": config["quality"] * epoch})


def test_a_resumed_sweep_stops_a_trial_behind_one_that_reported_before_the_interrupt(
    tmp_path: Path,
) -> None:
    """Trial A (quality 1) completes; trial B (quality 0.5) fails before it reports. Resumed,
    B is behind A at rung 1 and is stopped there, as without the interruption. Ray's own ASHA,
    whose rungs come back empty, lets B run all 3 epochs."""
    interrupt = tmp_path / "interrupt"
    interrupt.touch()
    space = {"quality": tune.grid_search([1.0, 0.5]), "interrupt": str(interrupt)}

    def tuner() -> tune.Tuner:
        return tune.Tuner(
            report_quality,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="score",
                mode="max",
                scheduler=ResumableASHA(
                    time_attr="epoch", max_t=EPOCHS, grace_period=1, reduction_factor=2
                ),
                max_concurrent_trials=1,
            ),
            run_config=tune.RunConfig(name="asha", storage_path=str(tmp_path)),
        )

    with local_ray_cluster():
        first = tuner().fit()
        assert [r.config["quality"] for r in first if r.error is None] == [1.0]
        interrupt.unlink()
        restored = tune.Tuner.restore(
            str(tmp_path / "asha"), report_quality, restart_errored=True, param_space=space
        )
        restored.fit()

    epochs = {
        steps[0]["config"]["quality"]: [step["epoch"] for step in steps]
        for steps in tune_results(tmp_path / "asha").values()
        if steps  # B's first attempt reported nothing
    }
    assert epochs == {1.0: [1, 2, 3], 0.5: [1]}
