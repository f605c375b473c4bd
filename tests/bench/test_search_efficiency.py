"""The search-efficiency bench's summary: when a method reaches the grid's best, and the share
of the grid's compute its median seed needed."""

from __future__ import annotations

from typing import Any

import pytest

from bench.search_efficiency import summarize


def report(curves: dict[str, list[list[tuple[int, float]]]]) -> dict[str, Any]:
    """A bench report: a grid of 64 trial-epochs whose best point scored 0.7, 0.8 and 0.9 at
    three training seeds (the threshold: mean - std = 0.7), and each method's curves, each
    sweep's best its curve's last value."""
    runs = {
        method: [
            {
                "curve": curve,
                "trial_epochs": curve[-1][0],
                "selection_ssim": curve[-1][1],
                "test_ssim": curve[-1][1],
            }
            for curve in entries
        ]
        for method, entries in curves.items()
    }
    runs["grid_best_reseeded"] = []
    return {"grid_best": {"mean": 0.8, "std": 0.1}, "runs": runs}


def test_a_seed_that_never_reaches_the_grid_counts_as_the_slowest() -> None:
    curves = {
        "grid": [[(32, 0.5), (64, 0.8)]],
        # reaches at 10, at 12, at 30, and twice never: the median seed is the one at 30
        "tpe_asha": [
            [(10, 0.75)],
            [(6, 0.2), (12, 0.72)],
            [(30, 0.71)],
            [(20, 0.6)],
            [(20, 0.69)],
        ],
        "random_asha": [[(10, 0.75)], [(20, 0.6)], [(20, 0.6)]],  # one of three
    }
    summary = summarize(report(curves))

    tpe = summary["methods"]["tpe_asha"]
    assert tpe["reached_at_trial_epochs"] == [10, 12, 30, None, None]
    assert tpe["seeds_reached"] == 3
    assert tpe["median_share_of_grid"] == 30 / 64  # not 12 / 64, the median of the three hits
    assert summary["target_met"] is False  # 47% of the grid, over the 40% aimed at
    random = summary["methods"]["random_asha"]
    assert (random["seeds_reached"], random["median_share_of_grid"]) == (1, None)
    assert summary["methods"]["grid"]["reached_at_trial_epochs"] == [64]


def test_tpe_against_random_is_an_exact_one_sided_mann_whitney_test() -> None:
    """TPE's three bests above all three of random's: U = 9 of 9 pairs, p = 1 / C(6, 3); one
    of TPE's below one of random's: U = 8, p = 2 / 20."""
    high, low = [[(10, 0.8)], [(10, 0.75)], [(10, 0.72)]], [[(10, 0.7)], [(10, 0.6)], [(10, 0.5)]]
    curves = {"grid": [[(64, 0.8)]], "tpe_asha": high, "random_asha": low}
    assert summarize(report(curves))["tpe_vs_random"] == {"U": 9.0, "pairs": 9, "p": 1 / 20}
    curves["tpe_asha"] = [*high[:2], [(10, 0.65)]]
    comparison = summarize(report(curves))["tpe_vs_random"]
    assert (comparison["U"], comparison["p"]) == (8.0, pytest.approx(2 / 20))
