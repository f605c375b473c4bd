"""The search-efficiency bench's summary: when a method reaches the grid's best, and the share
of the grid's compute its median seed needed."""

from __future__ import annotations

from typing import Any

from bench.search_efficiency import summarize


def report(curves: dict[str, list[list[tuple[int, float]]]]) -> dict[str, Any]:
    """A bench report: a grid of 64 trial-epochs whose best point scored 0.7, 0.8 and 0.9 at
    three training seeds (the threshold: mean - std = 0.7), and each method's curves."""
    runs = {
        method: [
            {"curve": curve, "trial_epochs": curve[-1][0], "selection_ssim": 0, "test_ssim": 0}
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
