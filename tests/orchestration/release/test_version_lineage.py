"""What a promoted version records of how its trial was found: its PBT schedule and, from a
multi-objective sweep, the rule that picked it from the front (no MLflow needed)."""

from __future__ import annotations

import pytest

from ganime_core.config import load_config
from ganime_core.errors import GanimeError
from orchestration.release.promote import Candidate, FrontPick, Gate, Measured, Verdict
from orchestration.tracking import tags
from tests.support.paths import SMOKE


def candidate(**changes) -> Candidate:
    fields = {
        "run_id": "r1",
        "run_name": "tiny-t01",
        "experiment_id": "1",
        "tags": {tags.SWEEP: "tiny", tags.TRIAL_NUMBER: "1"},
        "logged_key": "selection_ssim",
        "logged_value": 0.7,
        "model_id": "m-1",
        "generator": "final_generator",
    }
    return Candidate(**{**fields, **changes})


def gate(run: Candidate) -> Gate:
    measured = Measured("candidate", 0.71, {"test_ssim": 0.71}, 24, "untrained_inception")
    return Gate(run, measured, Verdict(True, "there is no champion yet"), None)


def test_a_version_records_its_trials_pbt_schedule_and_the_pick_rule() -> None:
    schedule = "t01 learning_rate=1e-12 | epoch 1: t00's state, learning_rate=0.0016"
    rule = "the best ssim on the Pareto front among trials within 5% of the best fid"
    run = candidate(tags={tags.SWEEP: "tiny", tags.SCHEDULE: schedule}, pick_rule=rule)
    recorded = gate(run).version_tags(load_config(SMOKE))
    assert recorded[tags.SCHEDULE] == schedule and recorded[tags.PICK_RULE] == rule
    description = gate(run).description()
    assert f"- its PBT schedule: {schedule}" in description and rule in description
    plain = gate(candidate()).version_tags(load_config(SMOKE))
    assert tags.SCHEDULE not in plain and tags.PICK_RULE not in plain


def test_pick_reads_metric_and_fraction_and_refuses_anything_else_in_one_line() -> None:
    assert FrontPick.parse("ssim:0.1") == FrontPick("ssim", 0.1)
    assert FrontPick.parse("fid") == FrontPick("fid", 0.05)
    for wrong in ("ssim:x", "psnr:0.1", "ssim:-1"):
        with pytest.raises(GanimeError, match="expected METRIC:FRACTION") as error:
            FrontPick.parse(wrong)
        assert "\n" not in str(error.value)
