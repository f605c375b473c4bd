"""A reused sweep actor gives way to a fresh one once its memory grew too much."""

from __future__ import annotations

import pytest

from orchestration.sweep import trainable
from orchestration.sweep.trainable import ACTOR_GROWTH_LIMIT_MB, InProcessTrial


class Process:
    runs = 0

    def next_run(self) -> None:
        self.runs += 1


@pytest.mark.parametrize(
    ("first", "now", "reused"),
    [
        (0.0, 5000.0, True),  # no step yet: nothing to compare with
        (1400.0, 1400.0 + ACTOR_GROWTH_LIMIT_MB, True),
        (1400.0, 1401.0 + ACTOR_GROWTH_LIMIT_MB, False),
    ],
)
def test_an_actor_declines_the_next_trial_once_its_memory_grew_past_the_limit(
    monkeypatch: pytest.MonkeyPatch, first: float, now: float, reused: bool
) -> None:
    actor = object.__new__(InProcessTrial)  # no Ray, no TensorFlow: only reset_config's state
    actor.training, actor.process, actor.first_trial_rss_mb = None, Process(), first
    monkeypatch.setattr(trainable, "rss_mb", lambda: now)
    assert actor.reset_config({}) is reused
    assert actor.process.runs == 1  # the previous trial's graphs were released either way
