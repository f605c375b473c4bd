"""Pareto fronts over metrics of opposite directions, and the pick rule."""

from __future__ import annotations

import itertools
import random

from ganime_core.metrics.pareto import dominates, front, pick

FID, SSIM = "selection_fid", "selection_ssim"  # lower, higher is better
METRICS = (FID, SSIM)


def test_the_front_is_the_non_dominated_points_whatever_the_directions() -> None:
    points = {
        "a": {FID: 100.0, SSIM: 0.5},
        "b": {FID: 120.0, SSIM: 0.7},  # worse FID, better SSIM: on the front
        "c": {FID: 130.0, SSIM: 0.6},  # dominated by b
        "d": {FID: 100.0, SSIM: 0.4},  # dominated by a (tied FID)
        "e": {FID: 90.0, SSIM: 0.3},
    }
    assert front(points, METRICS) == ["a", "b", "e"]
    rng = random.Random(0)
    many = {i: {FID: rng.uniform(50, 200), SSIM: rng.uniform(0, 1)} for i in range(60)}
    found = front(many, METRICS)
    for a, b in itertools.product(found, repeat=2):
        assert not dominates(many[a], many[b], METRICS)
    for key in set(many) - set(found):
        assert any(dominates(many[f], many[key], METRICS) for f in found)


def test_the_pick_prefers_one_metric_within_a_fraction_of_the_best_of_the_others() -> None:
    points = {
        "sharp": {FID: 100.0, SSIM: 0.50},
        "close": {FID: 104.0, SSIM: 0.60},
        "far": {FID: 140.0, SSIM: 0.80},
    }
    assert pick(points, METRICS, SSIM, 0.05) == "close"  # 104 is within 5% of 100
    assert pick(points, METRICS, SSIM, 0.5) == "far"
    assert pick(points, METRICS, SSIM, 0.0) == "sharp"
    assert pick(points, METRICS, FID, 0.0) == "far"  # the only one at the best SSIM
    assert pick({}, METRICS, FID, 0.1) is None
