"""A compare's result from its runs' results: the table laid out as the paper's (FID, KID, SSIM
as mean ± std over seeds, the FID reduction against the baseline, the paper's numbers beside),
which differences are larger than their spread, a bar chart with error bars, and the image grid
(the same held-out sketches through every method). No TensorFlow, no MLflow: the driver hands it
the results and logs what it writes.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestration.compare import paper

OBJECTIVES = ("fid", "kid", "ssim")
HEADINGS = {"fid": "FID ↓", "kid": "KID ↓", "ssim": "SSIM ↑"}
FAILED, REUSED, RAN = "failed", "reused", "ran"


@dataclass(frozen=True)
class RunOutcome:
    """One method at one seed: what happened to it and, if it finished, its result (the
    `compare/result.json` of its run)."""

    method: str
    seed: int
    status: str  # RAN, REUSED or FAILED (a run an interrupt cut off has no outcome)
    run_id: str
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    def value(self, objective: str) -> float | None:
        value = (self.result or {}).get("values", {}).get(objective)
        return None if value is None else float(value)


@dataclass(frozen=True)
class Stat:
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation over seeds (None below two)."""
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else None

    def text(self, digits: int) -> str:
        if self.mean is None:
            return "—"
        spread = f" ± {self.std:.{digits}f}" if self.std is not None else ""
        return f"{self.mean:.{digits}f}{spread}"


@dataclass
class MethodRow:
    method: str
    family: str
    paper_row: str | None  # the paper's row this method runs, if it reports one
    outcomes: list[RunOutcome] = field(default_factory=list)

    def stat(self, objective: str) -> Stat:
        values = [o.value(objective) for o in self.outcomes]
        return Stat(tuple(v for v in values if v is not None and math.isfinite(v)))

    @property
    def finished(self) -> int:
        return sum(o.finished for o in self.outcomes)

    @property
    def failures(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def paper(self) -> paper.PaperResult | None:
        return paper.RESULTS.get(self.paper_row) if self.paper_row else None


def method_rows(
    methods: list[str],
    families: dict[str, str],
    paper_rows: dict[str, str | None],
    outcomes: list[RunOutcome],
) -> list[MethodRow]:
    """One row per method, in the compare file's order, with its runs in seed order."""
    rows = {m: MethodRow(m, families[m], paper_rows.get(m)) for m in methods}
    for outcome in sorted(outcomes, key=lambda o: o.seed):
        rows[outcome.method].outcomes.append(outcome)
    return list(rows.values())


def digits(objective: str, scale: float | None = None) -> int:
    """Decimals `objective` is shown with: FID to 3 significant figures of its column's
    largest value (the paper's FIDs are ~200, a stand-in backbone's ~1), KID 4, SSIM 3."""
    if objective != "fid":
        return {"kid": 4, "ssim": 3}[objective]
    if not scale or scale >= 100:
        return 1
    return 2 if scale >= 10 else 3


def scale_of(rows: list[MethodRow], objective: str) -> float | None:
    means = [row.stat(objective).mean for row in rows]
    return max((abs(m) for m in means if m is not None), default=None)


def reduction(row: MethodRow, baseline: MethodRow | None) -> str:
    """FID reduction against the baseline's mean, in percent ('baseline' on its own row)."""
    if baseline is None:
        return "—"
    if row is baseline:
        return "baseline"
    fid, base = row.stat("fid").mean, baseline.stat("fid").mean
    return "—" if fid is None or base is None else f"{paper.fid_reduction(fid, base):.1f}%"


def paper_reduction(row: MethodRow) -> str:
    if row.paper is None:
        return "—"
    if row.paper_row == paper.BASELINE:
        return "baseline"
    base = paper.RESULTS[paper.BASELINE].fid
    return f"{paper.fid_reduction(row.paper.fid, base):.1f}%"


def table_rows(rows: list[MethodRow], baseline: str | None) -> list[dict[str, str]]:
    """The table as text cells, one dict per method (markdown and the terminal show these)."""
    base = next((row for row in rows if row.method == baseline), None)
    places = {o: digits(o, scale_of(rows, o)) for o in OBJECTIVES}
    cells = []
    for row in rows:
        runs = f"{row.finished}/{len(row.outcomes)}"
        if row.failures:
            runs += f" ({len(row.failures)} failed)"  # why: failure_notes()
        cells.append(
            {
                "Method": row.method,
                "Runs": runs,
                **{HEADINGS[o]: row.stat(o).text(places[o]) for o in OBJECTIVES},
                f"FID vs {baseline or 'baseline'}": reduction(row, base),
                "Paper FID": f"{row.paper.fid:.1f}" if row.paper else "—",
                "Paper SSIM": f"{row.paper.ssim:.3f}" if row.paper else "—",
                "Paper FID vs NST": paper_reduction(row),
            }
        )
    return cells


def markdown(cells: list[dict[str, str]]) -> str:
    heads = list(cells[0])
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    lines += ["| " + " | ".join(cell[h] for h in heads) + " |" for cell in cells]
    return "\n".join(lines) + "\n"


def text_table(cells: list[dict[str, str]]) -> str:
    """The table aligned for a terminal."""
    heads = list(cells[0])
    widths = {h: max(len(h), *(len(c[h]) for c in cells)) for h in heads}
    lines = ["  ".join(h.ljust(widths[h]) for h in heads)]
    lines += ["  ".join(c[h].ljust(widths[h]) for h in heads) for c in cells]
    return "\n".join(line.rstrip() for line in lines)


def failure_notes(rows: list[MethodRow]) -> list[str]:
    """Why runs failed: a line per method and reason, naming the seeds."""
    lines = []
    for row in rows:
        reasons: dict[str, list[int]] = {}
        for outcome in row.failures:
            reasons.setdefault(outcome.error or "unknown", []).append(outcome.seed)
        for reason, seeds in reasons.items():
            which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
            lines.append(f"{row.method} {which} failed: {reason}")
    return lines


def separations(rows: list[MethodRow], objective: str) -> list[str]:
    """Neighbours in the ranking by `objective` (best first): is their difference in means
    larger than the sum of their standard deviations over seeds? A difference within that
    spread is not one these seeds can tell apart."""
    better_low = objective != "ssim"
    places = digits(objective, scale_of(rows, objective))
    ranked = [row for row in rows if row.stat(objective).mean is not None]
    ranked.sort(key=lambda row: row.stat(objective).mean * (1 if better_low else -1))
    lines = []
    for ahead, behind in zip(ranked, ranked[1:], strict=False):
        a, b = ahead.stat(objective), behind.stat(objective)
        gap = abs(a.mean - b.mean)
        if a.std is None or b.std is None:
            verdict = "one seed each: no spread to judge by"
        elif gap > a.std + b.std:
            verdict = f"larger than their spread ({a.std + b.std:.{places}f})"
        else:
            verdict = f"within their spread ({a.std + b.std:.{places}f})"
        lines.append(
            f"{objective.upper()}: {ahead.method} ahead of {behind.method} by "
            f"{gap:.{places}f}, {verdict}"
        )
    return lines


def write_csv(rows: list[MethodRow], baseline: str | None, path: Path) -> Path:
    """One line per method: means, stds, the runs and the paper's numbers, as numbers."""
    base = next((row for row in rows if row.method == baseline), None)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "method", "family", "runs", "finished",
                *(f"{o}_{s}" for o in OBJECTIVES for s in ("mean", "std")),
                "fid_reduction_pct", "paper_row", "paper_fid", "paper_ssim", "run_ids", "failures",
            ]
        )  # fmt: skip
        for row in rows:
            fid, base_fid = row.stat("fid").mean, base.stat("fid").mean if base else None
            writer.writerow(
                [
                    row.method, row.family, len(row.outcomes), row.finished,
                    *(_number(v) for o in OBJECTIVES for v in (row.stat(o).mean, row.stat(o).std)),
                    _number(paper.fid_reduction(fid, base_fid) if fid and base_fid else None),
                    row.paper_row or "",
                    row.paper.fid if row.paper else "", row.paper.ssim if row.paper else "",
                    " ".join(o.run_id for o in row.outcomes),
                    "; ".join(f"seed {o.seed}: {o.error}" for o in row.failures),
                ]
            )  # fmt: skip
    return path


def write_runs_csv(outcomes: list[RunOutcome], path: Path) -> Path:
    """One line per method and seed: what the table's means and stds are computed from."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        heads = ["method", "seed", "status", *OBJECTIVES, "n", "seconds", "run_id", "error"]
        writer.writerow(heads)
        for o in sorted(outcomes, key=lambda o: (o.method, o.seed)):
            result = o.result or {}
            writer.writerow(
                [
                    o.method, o.seed, o.status, *(_number(o.value(x)) for x in OBJECTIVES),
                    result.get("n", ""), _number(result.get("seconds")), o.run_id, o.error or "",
                ]
            )  # fmt: skip
    return path


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def plot_bars(rows: list[MethodRow], path: Path, stand_in_backbone: bool) -> Path:
    """FID and SSIM per method: mean with ±1 std error bars, the paper's value as a marker
    (its FID only where ours was measured with the same, ImageNet, backbone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(rows) + 2), 4))
    x = np.arange(len(rows))
    fid_name = "FID (stand-in InceptionV3)" if stand_in_backbone else "FID"
    for axis, objective, label in ((axes[0], "fid", fid_name), (axes[1], "ssim", "SSIM")):
        stats = [row.stat(objective) for row in rows]
        means = [s.mean if s.mean is not None else 0.0 for s in stats]
        errors = [s.std or 0.0 for s in stats]
        axis.bar(x, means, yerr=errors, capsize=4, color="#4c72b0", label="this compare")
        marks = [(i, getattr(row.paper, objective)) for i, row in enumerate(rows) if row.paper]
        if marks:
            axis.scatter(*zip(*marks, strict=True), marker="D", color="black", zorder=3,
                         label="paper")  # fmt: skip
        axis.set_xticks(x, [row.method for row in rows], rotation=30, ha="right")
        axis.set_ylabel(label + (" ↓" if objective == "fid" else " ↑"))
        axis.legend(fontsize=8)
    seeds = max((len(row.outcomes) for row in rows), default=0)
    figure.suptitle(f"mean ± std over {seeds} seed(s)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_grid(columns: list[tuple[str, np.ndarray]], path: Path) -> Path:
    """Held-out sketches down, one column per entry (title, uint8 (k, h, w, 3) images) across:
    sketch | reference | each method | ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(len(images) for _, images in columns)
    figure, axes = plt.subplots(
        rows, len(columns), figsize=(1.5 * len(columns), 1.5 * rows + 0.4), squeeze=False
    )
    for j, (title, images) in enumerate(columns):
        for i in range(rows):
            axis = axes[i][j]
            axis.imshow(images[i], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if i == 0:
                axis.set_title(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
