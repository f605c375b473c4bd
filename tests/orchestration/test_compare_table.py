"""A compare's table from its runs' results: means and stds over seeds, the FID reduction, the
paper's columns, which differences are larger than their spread, and its files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from orchestration.compare import paper, table
from orchestration.compare.table import FAILED, RAN, REUSED, RunOutcome


def outcome(method: str, seed: int, fid: float, ssim: float, status: str = RAN) -> RunOutcome:
    result = {"values": {"fid": fid, "kid": fid / 1000, "ssim": ssim}, "n": 8, "seconds": 1.0}
    return RunOutcome(method, seed, status, f"{method}-{seed}", result)


FAMILIES = {"nst": "nst", "p2p": "pix2pix", "tv": "pix2pix", "s2p": "style2paints"}
PAPER_ROWS = {"nst": "NST", "p2p": "Pix2Pix", "tv": "Pix2Pix + TV", "s2p": None}


@pytest.fixture
def rows() -> list[table.MethodRow]:
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
    return table.method_rows(["nst", "p2p", "tv", "s2p"], FAMILIES, PAPER_ROWS, outcomes)


def test_means_and_sample_stds_over_the_finished_seeds(rows) -> None:
    nst, p2p, tv, s2p = rows
    assert [o.seed for o in tv.outcomes] == [0, 1]
    assert nst.stat("fid").mean == pytest.approx(305.0)
    assert nst.stat("fid").std == pytest.approx(np.std([300.0, 310.0], ddof=1))
    assert p2p.stat("ssim").mean == pytest.approx(0.71)
    # A failed seed counts in the runs, not in the statistics: one value, no spread.
    assert s2p.finished == 1 and len(s2p.outcomes) == 2
    assert s2p.stat("fid").mean == 150.0 and s2p.stat("fid").std is None
    assert s2p.stat("fid").text(1) == "150.0"


def test_the_table_as_the_paper_lays_it_out(rows) -> None:
    cells = table.table_rows(rows, baseline="nst")
    by_method = {cell["Method"]: cell for cell in cells}
    assert by_method["nst"]["FID ↓"] == "305.0 ± 7.1"
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
    assert markdown.splitlines()[0].startswith("| Method | Runs | FID ↓ | KID ↓ | SSIM ↑ |")
    assert len(markdown.splitlines()) == 2 + len(rows)
    assert "305.0 ± 7.1" in table.text_table(cells)


def test_the_paper_reductions_match_its_table() -> None:
    base = paper.RESULTS["NST"].fid
    reductions = {
        row: round(paper.fid_reduction(result.fid, base), 1)
        for row, result in paper.RESULTS.items()
    }
    assert reductions == {"NST": 0.0, "CycleGAN": 21.1, "Pix2Pix": 34.0, "Pix2Pix + TV": 36.2}


def test_differences_are_judged_against_their_spread(rows) -> None:
    fid = table.separations(rows, "fid")
    # Ranked best first: s2p (one seed), tv 200 ± 7.1, p2p 210 ± 14.1, nst 305 ± 7.1.
    assert fid[0].startswith("FID: s2p ahead of tv by 50.0, one seed each")
    assert fid[1] == "FID: tv ahead of p2p by 10.0, within their spread (21.2)"
    assert fid[2] == "FID: p2p ahead of nst by 95.0, larger than their spread (21.2)"
    ssim = table.separations(rows, "ssim")
    assert ssim[0].startswith("SSIM: s2p ahead of tv")  # higher SSIM is better


def test_the_files_hold_the_numbers(rows, tmp_path) -> None:
    table.write_csv(rows, "nst", tmp_path / "compare.csv")
    with (tmp_path / "compare.csv").open() as handle:
        written = {line["method"]: line for line in csv.DictReader(handle)}
    assert float(written["tv"]["fid_mean"]) == pytest.approx(200.0)
    assert float(written["tv"]["fid_std"]) == pytest.approx(np.std([195, 205], ddof=1))
    assert float(written["tv"]["fid_reduction_pct"]) == pytest.approx(100 * 105 / 305, rel=1e-5)
    assert written["s2p"]["failures"] == "seed 1: VGG19 weights missing"
    assert written["nst"]["run_ids"] == "nst-0 nst-1"
    every = [o for row in rows for o in row.outcomes]
    table.write_runs_csv(every, tmp_path / "runs.csv")
    with (tmp_path / "runs.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(every)
    bars = Image.open(table.plot_bars(rows, tmp_path / "bars.png", stand_in_backbone=True))
    assert bars.size[0] > 400
    images = np.zeros((3, 8, 8, 3), np.uint8)
    columns = [("sketch", images), ("a", images), ("b", images), ("ground truth", images)]
    grid = Image.open(table.plot_grid(columns, tmp_path / "grid.png"))
    assert grid.size[0] > grid.size[1]  # 4 columns across, 3 sketches down
