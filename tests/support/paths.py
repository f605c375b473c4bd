"""Where the tests find the repository and its experiment files, by kind."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
SMOKE = EXPERIMENTS / "smoke.yaml"
STYLE2PAINTS_SMOKE = EXPERIMENTS / "style2paints_smoke.yaml"


def _kind(path: Path) -> str:
    raw = yaml.safe_load(path.read_text()) or {}
    return "compare" if "methods" in raw else "sweep" if "experiment" in raw else "experiment"


# experiments/ holds three kinds: a sweep file names its base experiment, a compare file its
# methods.
SWEEP_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "sweep")
COMPARE_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "compare")
EXPERIMENT_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if _kind(p) == "experiment")
