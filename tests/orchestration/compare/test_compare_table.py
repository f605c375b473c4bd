"""A compare's table from its runs' results: means, stds and 95% intervals over seeds and test
images, the FID reduction, the paper's columns, every pair's corrected test, the chart's series
and its files. No Ray, no TensorFlow."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest
import scipy.stats
from PIL import Image

from ganime_core.metrics import names
from ganime_core.metrics.bootstrap import Replicates, holm_adjusted
from ganime_core.splits import TEST
from orchestration.compare import paper, table
from orchestration.compare.table import FAILED, RAN, REUSED, RunOutcome, RunResult

STAND_IN = (names.INCEPTION,)  # this machine's backbone: no ImageNet weights
IMAGES = 48


def replicates(fid: list[float], ssim: list[float]) -> Replicates:
    values = {"fid": tuple(fid), "kid": tuple(f / 1000 for f in fid), "ssim": tuple(ssim)}
    return Replicates(7, IMAGES, values)


def result(
    method: str,
    seed: int,
    fid: float,
    ssim: float,
    standins: tuple[str, ...] = STAND_IN,
    bootstrap: Replicates | None = None,
) -> RunResult:
    values = {"fid": fid, "kid": fid / 1000, "ssim": ssim}  # no colour metrics: no annotations
    logged = {o: names.logged_name(o, TEST, standins) for o in values}
    return RunResult(
        method=method,
        seed=seed,
        key="k",
        values=values,
        logged_names=logged,
        metrics={logged[o]: values[o] for o in values},
        n=IMAGES,
        backbone="InceptionV3",
        standins=standins,
        reference=None,
        eval_seconds=1.0,
        bootstrap=bootstrap,
        seconds=1.0,
    )


def outcome(method: str, seed: int, fid: float, ssim: float, status: str = RAN, **kw) -> RunOutcome:
    return RunOutcome(
        method, seed, status, f"{method}-{seed}", result(method, seed, fid, ssim, **kw)
    )


FAMILIES = {"nst": "nst", "p2p": "pix2pix", "tv": "pix2pix", "s2p": "style2paints"}
PAPER_ROWS = {"nst": "NST", "p2p": "Pix2Pix", "tv": "Pix2Pix + TV", "s2p": None}
METHODS = ["nst", "p2p", "tv", "s2p"]


@pytest.fixture
def rows() -> list[table.MethodRow]:
    """Seed spreads only (no bootstrap), one failed run."""
    outcomes = [
        outcome("nst", 0, 300.0, 0.60),
        outcome("nst", 1, 310.0, 0.62, REUSED),
        outcome("p2p", 0, 200.0, 0.70),
        outcome("p2p", 1, 220.0, 0.72),
        outcome("tv", 1, 205.0, 0.73),  # seeds in any order
        outcome("tv", 0, 195.0, 0.75),
        outcome("s2p", 0, 150.0, 0.80),
        RunOutcome("s2p", 1, FAILED, "s2p-1", error="VGG19 weights missing"),
    ]
    return table.method_rows(METHODS, FAMILIES, PAPER_ROWS, outcomes)


def test_means_and_sample_stds_over_the_finished_seeds(rows) -> None:
    nst, p2p, tv, s2p = rows
    assert [o.seed for o in tv.outcomes] == [0, 1]
    assert nst.estimate("fid").mean == pytest.approx(305.0)
    assert nst.estimate("fid").std == pytest.approx(np.std([300.0, 310.0], ddof=1))
    assert p2p.estimate("ssim").mean == pytest.approx(0.71)
    # A failed seed counts in the runs, not in the statistics: one value, no spread.
    assert s2p.finished == 1 and len(s2p.outcomes) == 2
    assert s2p.estimate("fid").mean == 150.0 and s2p.estimate("fid").std is None
    assert table.mean_text(s2p.estimate("fid"), 1) == "150.0"
    assert s2p.estimate("fid").interval is None  # one seed and no bootstrap: no interval


def test_the_table_as_the_paper_lays_it_out(rows) -> None:
    cells = table.table_rows(rows, baseline="nst")
    by_method = {cell["Method"]: cell for cell in cells}
    assert by_method["nst"]["FID ↓"] == "305.0 ± 7.1"
    # Seeds alone: Student's t with k - 1 = 1 degree of freedom (12.71 x 7.07 / sqrt 2).
    half = scipy.stats.t.ppf(0.975, 1) * np.std([300, 310], ddof=1) / math.sqrt(2)
    assert by_method["nst"]["FID 95% CI"] == f"[{305 - half:.1f}, {305 + half:.1f}]"
    assert by_method["s2p"]["FID 95% CI"] == "—"
    assert by_method["nst"]["FID vs nst"] == "baseline"
    assert by_method["tv"]["FID vs nst"] == f"{100 * (305 - 200) / 305:.1f}%"
    # The paper's own numbers beside, labelled as the paper's; none for Style2paints.
    assert by_method["tv"]["Paper FID"] == "220.5" and by_method["tv"]["Paper SSIM"] == "0.756"
    assert by_method["tv"]["Paper FID vs NST"] == "36.2%"  # the paper's 36.2% reduction
    assert by_method["p2p"]["Paper FID vs NST"] == "34.0%"
    assert by_method["s2p"]["Paper FID"] == "—"
    assert by_method["s2p"]["Runs"] == "1/2 (1 failed)"
    assert table.failure_notes(rows) == ["s2p seed 1 failed: VGG19 weights missing"]
    markdown = table.markdown(cells)
    assert markdown.splitlines()[0].startswith(
        "| Method | Runs | FID ↓ | FID 95% CI | KID ↓ | KID 95% CI | SSIM ↑ | SSIM 95% CI |"
    )
    assert len(markdown.splitlines()) == 2 + len(rows)
    assert "305.0 ± 7.1" in table.text_table(cells)


def test_the_paper_reductions_match_its_table() -> None:
    base = paper.RESULTS["NST"].fid
    reductions = {
        row: round(paper.fid_reduction(result.fid, base), 1)
        for row, result in paper.RESULTS.items()
    }
    assert reductions == {"NST": 0.0, "CycleGAN": 21.1, "Pix2Pix": 34.0, "Pix2Pix + TV": 36.2}


# --- intervals over seeds and test images, and the pairs' tests ----------------------------------

SEED_FIDS = {"a": [0.40, 0.42, 0.41], "b": [0.80, 0.83, 0.79]}
# Replicate b of each seed: the seeds' replicates move together (the same resampled images).
RESAMPLE_SHIFTS = [0.00, 0.02, -0.01, 0.015, -0.02, 0.005]


def bootstrapped_rows(shift_b: float | None) -> list[table.MethodRow]:
    """Methods a and b (b = a's numbers shifted by `shift_b`, or SEED_FIDS['b'] if None) at
    3 seeds with 6 paired replicates each; c at 3 seeds without a bootstrap; e with one seed."""
    fids_b = [f + shift_b for f in SEED_FIDS["a"]] if shift_b is not None else SEED_FIDS["b"]
    outcomes = []
    for method, fids in (("a", SEED_FIDS["a"]), ("b", fids_b)):
        for seed, fid in enumerate(fids):
            boot = replicates(
                [fid + s for s in RESAMPLE_SHIFTS], [0.7 + s for s in RESAMPLE_SHIFTS]
            )
            outcomes.append(outcome(method, seed, fid, 0.7 + seed / 100, bootstrap=boot))
    outcomes += [outcome("c", seed, 0.5 + seed / 100, 0.6 + seed / 50) for seed in range(3)]
    outcomes.append(outcome("e", 0, 0.9, 0.5))
    return table.method_rows(list("abce"), dict.fromkeys("abce", "pix2pix"), {}, outcomes)


def test_the_interval_adds_the_bootstrap_of_the_seed_mean_to_the_seed_spread() -> None:
    a = bootstrapped_rows(None)[0]
    estimate = a.estimate("fid")
    seed_term = np.var(SEED_FIDS["a"], ddof=1) / 3
    boot_term = np.var(np.mean(SEED_FIDS["a"]) + np.array(RESAMPLE_SHIFTS), ddof=1)
    variance = seed_term + boot_term
    df = variance**2 / (seed_term**2 / 2 + boot_term**2 / (IMAGES - 1))
    half = scipy.stats.t.ppf(0.975, df) * math.sqrt(variance)
    mean = np.mean(SEED_FIDS["a"])
    assert estimate.interval == pytest.approx((mean - half, mean + half))
    notes = table.interval_notes(bootstrapped_rows(None))
    assert "t(0.975, ν) · sqrt(s²/k + Var_b)" in notes[0] and "B = 6 resamples" in notes[0]
    assert "c (FID, KID, SSIM): interval from seeds only" in notes
    assert "e (FID, KID, SSIM): interval from nothing (one seed)" in notes


def test_identical_methods_are_not_significantly_different() -> None:
    rows = bootstrapped_rows(shift_b=0.0)  # the same seeds and the same replicates
    (test,) = [t for t in table.pair_tests(rows, "fid") if {t.first, t.second} == {"a", "b"}]
    assert test.test.difference == 0.0 and test.test.p == 1.0 and test.adjusted_p == 1.0
    assert not test.significant
    assert "not significant at 0.05 (Holm)" in test.line(3)


def test_a_large_shift_is_significant_after_holms_correction() -> None:
    rows = bootstrapped_rows(shift_b=None)  # b about 0.4 worse than a, the spreads ~0.01
    tests = table.pair_tests(rows, "fid")
    by_pair = {(t.first, t.second): t for t in tests}
    assert list(by_pair) == [("a", "c"), ("a", "b"), ("c", "b")]  # ranked best first
    ab = by_pair[("a", "b")]
    assert ab.test.difference == pytest.approx(np.mean(SEED_FIDS["a"]) - np.mean(SEED_FIDS["b"]))
    assert ab.test.bootstrap and ab.test.p < 1e-3 and ab.significant
    assert ab.line(3).endswith("significant at 0.05 (Holm)")
    assert by_pair[("a", "c")].caveats == ("no paired bootstrap: seed spread only",)
    # Holm across this metric's pairs: the adjusted p-values are holm_adjusted's of the raw.
    assert [t.adjusted_p for t in tests] == pytest.approx(holm_adjusted([t.test.p for t in tests]))
    notes = table.pair_notes(rows)
    assert any(line.startswith("FID, every pair (3): Welch's t") for line in notes)
    # FID, KID and SSIM measured; the colour metrics (no part maps here) get no lines.
    assert table.measured_objectives(rows) == ("fid", "kid", "ssim")
    assert sum("(Holm)" in line for line in notes) == 3 * 3
    # e has one seed: its spread is unknown, so no test claims anything about it.
    assert "FID: a vs e not tested: e has one finished seed: its seed spread is unknown" in notes


def test_pairs_of_single_seeds_are_tested_by_the_bootstrap_alone_or_not_at_all() -> None:
    boot_x, boot_y = (
        replicates([1.0, 1.1, 0.9], [0.5] * 3),
        replicates([2.0, 2.05, 1.95], [0.5] * 3),
    )
    with_bootstrap = table.method_rows(
        ["x", "y"],
        {"x": "nst", "y": "nst"},
        {},
        [outcome("x", 0, 1.0, 0.5, bootstrap=boot_x), outcome("y", 0, 2.0, 0.5, bootstrap=boot_y)],
    )
    (test,) = table.pair_tests(with_bootstrap, "fid")
    assert test.caveats == ("one seed each: test-set sampling only, not seed variation",)
    # d_b = -1, -1.05, -0.95: the paired bootstrap's variance of the difference, 0.05^2.
    assert test.test.standard_error == pytest.approx(0.05) and test.test.df == IMAGES - 1
    assert test.significant
    lonely = table.method_rows(
        ["x", "y"],
        {"x": "nst", "y": "nst"},
        {},
        [outcome("x", 0, 1.0, 0.5), outcome("y", 0, 2.0, 0.5)],
    )
    assert table.pair_tests(lonely, "fid") == []
    assert "FID: x vs y not tested: one seed each and no paired bootstrap" in table.pair_notes(
        lonely
    )


# --- the chart ------------------------------------------------------------------------------------


def test_the_chart_draws_no_paper_fid_beside_stand_in_fids(rows) -> None:
    fid, ssim = table.chart_panels(rows)
    assert fid.objective == "fid" and fid.paper == ()  # stand-in FIDs ~300 here: no markers
    assert "stand-in InceptionV3" in fid.axis_label
    # SSIM needs no backbone: the paper's SSIMs are drawn beside nst, p2p and tv (not s2p).
    assert ssim.paper == ((0, 0.655), (1, 0.747), (2, 0.756))
    assert fid.errors[3] is None  # s2p: one seed, no interval, no error bar
    half = fid.errors[0][1]
    assert fid.errors[0] == pytest.approx((half, half))
    figure = table.bar_figure((fid, ssim), seeds=2)
    fid_axis, ssim_axis = figure.axes
    # Drawn: the bars (a BarContainer) and, for SSIM only, the paper's markers (a scatter).
    assert fid_axis.get_legend_handles_labels()[1] == ["this compare"]
    assert sorted(ssim_axis.get_legend_handles_labels()[1]) == ["paper", "this compare"]
    assert not [c for c in fid_axis.collections if c.get_label() == "paper"]
    heights = [bar.get_height() for bar in fid_axis.patches]
    assert heights == pytest.approx([305.0, 210.0, 200.0, 150.0])
    assert "stand-in" in fid_axis.get_ylabel()


def test_the_chart_draws_the_paper_fid_beside_imagenet_fids() -> None:
    outcomes = [
        outcome(m, s, fid, 0.7, standins=()) for m, fid in (("nst", 340.0), ("tv", 225.0))
        for s in (0, 1)
    ]  # fmt: skip
    # A method on a stand-in VGG19 (NST untrained) is not the paper's method: no marker.
    outcomes += [outcome("p2p", s, 230.0, 0.7, standins=(names.VGG19,)) for s in (0, 1)]
    rows = table.method_rows(["nst", "tv", "p2p"], FAMILIES, PAPER_ROWS, outcomes)
    fid, ssim = table.chart_panels(rows)
    assert fid.paper == ((0, 345.5), (1, 220.5))
    assert "ImageNet InceptionV3" in fid.axis_label
    assert ssim.paper == ((0, 0.655), (1, 0.756))
    fid_axis = table.bar_figure((fid, ssim), seeds=2).axes[0]
    assert sorted(fid_axis.get_legend_handles_labels()[1]) == ["paper", "this compare"]
    (markers,) = [c for c in fid_axis.collections if c.get_label() == "paper"]
    assert markers.get_offsets().tolist() == [[0, 345.5], [1, 220.5]]


def test_the_chart_draws_no_paper_marker_for_a_metric_the_paper_did_not_report() -> None:
    # Pix2Pix at ImageNet measure, beside the paper in FID and SSIM; the paper measured no
    # colour-following, so its part-ΔE panel has bars and no marker (this raised before).
    outcomes = []
    for seed, delta_e in ((0, 57.6), (1, 56.3)):
        run = outcome("p2p", seed, 230.0, 0.7, standins=())
        values = {**run.result.values, "part_delta_e": delta_e}
        delta_e_name = names.logged_name("part_delta_e", TEST, ())
        logged = {**run.result.logged_names, "part_delta_e": delta_e_name}
        outcomes.append(
            dataclasses.replace(
                run, result=dataclasses.replace(run.result, values=values, logged_names=logged)
            )
        )
    rows = table.method_rows(["p2p"], FAMILIES, PAPER_ROWS, outcomes)
    fid, ssim, delta_e = table.chart_panels(rows)
    assert fid.paper == ((0, 227.9),) and ssim.paper == ((0, 0.747),)
    assert delta_e.objective == "part_delta_e" and delta_e.paper == ()
    assert delta_e.means == pytest.approx((56.95,))


# --- results and files ----------------------------------------------------------------------------


def test_a_result_round_trips_through_its_record() -> None:
    original = result("tv", 0, 0.4, 0.8, bootstrap=replicates([0.41, 0.39], [0.8, 0.81]))
    assert RunResult.from_record(original.to_record()) == original
    with pytest.raises(KeyError):  # what an older GANime wrote
        RunResult.from_record({"method": "tv", "seed": 0, "values": {}, "metric_suffix": ""})


def test_the_files_hold_the_numbers(rows, tmp_path) -> None:
    table.write_table_csv(rows, "nst", tmp_path / "compare.csv")
    with (tmp_path / "compare.csv").open() as handle:
        written = {line["method"]: line for line in csv.DictReader(handle)}
    assert float(written["tv"]["fid_mean"]) == pytest.approx(200.0)
    assert float(written["tv"]["fid_std"]) == pytest.approx(np.std([195, 205], ddof=1))
    assert float(written["tv"]["fid_ci_low"]) < 200.0 < float(written["tv"]["fid_ci_high"])
    assert written["tv"]["fid_ci_covers"] == "seeds only" and written["s2p"]["fid_ci_low"] == ""
    assert float(written["tv"]["fid_reduction_pct"]) == pytest.approx(100 * 105 / 305, rel=1e-5)
    assert written["s2p"]["failures"] == "seed 1: VGG19 weights missing"
    assert written["nst"]["run_ids"] == "nst-0 nst-1"
    every = [o for row in rows for o in row.outcomes]
    table.write_runs_csv(every, tmp_path / "runs.csv")
    with (tmp_path / "runs.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(every)
    table.write_pairs_csv(bootstrapped_rows(None), tmp_path / "pairs.csv")
    with (tmp_path / "pairs.csv").open() as handle:
        pairs = list(csv.DictReader(handle))
    assert len(pairs) == 3 * 3  # FID, KID, SSIM; e, with one seed, is in no test
    assert {
        (p["first"], p["second"], p["significant"]) for p in pairs if p["objective"] == "fid"
    } >= {("a", "b", "True")}
    bars = Image.open(table.plot_bars(rows, tmp_path / "bars.png"))
    assert bars.size[0] > 400
    images = np.zeros((3, 8, 8, 3), np.uint8)
    columns = [("sketch", images), ("a", images), ("b", images), ("ground truth", images)]
    grid = Image.open(table.plot_grid(columns, tmp_path / "grid.png"))
    assert grid.size[0] > grid.size[1]  # 4 columns across, 3 sketches down


def test_the_caveat_names_each_stand_in_network_and_the_methods_it_touched() -> None:
    from orchestration.compare.driver import _backbone_caveat

    imagenet = (names.INCEPTION,)  # only the metrics' backbone is a stand-in
    both = (names.INCEPTION, names.VGG19)
    outcomes = [
        outcome("p2p", 0, 1.0, 0.5, standins=imagenet),
        outcome("nst", 0, 0.4, 0.6, standins=both),
    ]
    caveat = _backbone_caveat(outcomes)
    assert "seeded untrained InceptionV3 (names marked _untrained_inception)" in caveat
    assert "nst ran on a seeded untrained VGG19 (names marked _untrained_vgg19, SSIM" in caveat
    assert "p2p ran" not in caveat
    vgg_only = [outcome("nst", 0, 0.4, 0.6, standins=(names.VGG19,))]
    assert "InceptionV3" not in _backbone_caveat(vgg_only)
    assert _backbone_caveat([outcome("p2p", 0, 1.0, 0.5, standins=())]) is None


def test_a_method_with_no_finished_run_gets_no_bar_and_no_error_bar() -> None:
    outcomes = [outcome("nst", s, 0.4 + 0.1 * s, 0.5) for s in (0, 1)]
    outcomes += [
        table.RunOutcome("fast_nst", s, table.FAILED, f"f{s}", error="no model") for s in (0, 1)
    ]
    families = {"nst": "nst", "fast_nst": "fast_nst"}
    rows = table.method_rows(["nst", "fast_nst"], families, PAPER_ROWS, outcomes)
    fid_axis = table.bar_figure(table.chart_panels(rows), seeds=2).axes[0]
    heights = [bar.get_height() for bar in fid_axis.patches]
    assert heights[0] == pytest.approx(0.45) and np.isnan(heights[1])
    (error_bars,) = [c for c in fid_axis.collections if c.get_label() != "paper"]
    drawn = [segment for segment in error_bars.get_segments() if len(segment)]
    assert len(drawn) == 1 and drawn[0][:, 0].tolist() == [0, 0]  # nst's only: none at 0
