"""bench.hint_probe on a few references with the colour thumbnail (no VGG19: seconds)."""

from __future__ import annotations

import json

from bench.hint_probe import RIDGE_WEIGHTS, main
from ganime_core.data.synth import PALETTE_PARTS


def test_the_thumbnail_probe_predicts_the_large_parts_far_better_than_their_mean(
    tmp_path,
) -> None:
    out = tmp_path / "probe.json"
    args = ["--references", "200", "--hints", "colour_thumbnail", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert (report["references"], report["held_out"], report["size"]) == (200, 50, 64)
    (probe,) = report["probes"]
    assert probe["hint"] == "colour_thumbnail" and probe["features"] == 192
    assert probe["ridge_weight"] in RIDGE_WEIGHTS
    assert set(probe["delta_e"]) == set(PALETTE_PARTS)
    baseline = report["mean_colour"]["delta_e"]
    # Every reference draws hair, skin and clothes, each over many 8x8 cells: a linear read of
    # the thumbnail gets them far closer than their average colour (about 50 ΔE away).
    for part in ("hair", "skin", "clothes"):
        assert probe["delta_e"][part] < 0.6 * baseline[part], part
