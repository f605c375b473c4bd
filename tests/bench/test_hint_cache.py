"""bench.hint_cache at a tiny size: both feeds timed, the report written."""

from __future__ import annotations

import json

import pytest

from bench.hint_cache import main

pytestmark = pytest.mark.slow  # builds VGG19 and encodes 8 references at 224 px


def test_the_bench_times_both_feeds_and_writes_its_report(tmp_path, capsys) -> None:
    out = tmp_path / "hints.json"
    arguments = ["--cases", "32x4x4", "--rounds", "2", "--steps", "1", "--count", "10"]
    assert main([*arguments, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["command"].endswith(f"--json {out}")
    (result,) = report["results"]
    assert result["case"] == "32x4x4" and (result["rounds"], result["steps"]) == (2, 1)
    # The cached step skips VGG19 at 224 px on 4 references: several times faster.
    assert result["cached_ms"] < result["uncached_ms"]
    assert result["speedup"] == pytest.approx(result["uncached_ms"] / result["cached_ms"])
    assert result["precompute_seconds"] > 0
    assert "32x4x4" in capsys.readouterr().out
