"""A compare's result from its runs' results: the table laid out as the paper's (FID, KID, SSIM
as mean ± std over seeds with a 95% confidence interval, the FID reduction against the baseline,
the paper's numbers beside in columns labelled as the paper's), a test of every pair of methods
with Holm's correction, a bar chart with the intervals as error bars, and the image grid (the
same held-out sketches through every method). The statistics are ganime_core.metrics.bootstrap's
(its docstring states the formulas). No TensorFlow, no MLflow: the driver hands it the results
and logs what it writes.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganime_core.metrics import names
from ganime_core.metrics.bootstrap import (
    ALPHA,
    Difference,
    Estimate,
    Replicates,
    difference_test,
    holm_adjusted,
)
from orchestration.compare import paper

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OBJECTIVES = ("fid", "kid", "ssim", "part_delta_e", "ab_distance", "swap")
HEADINGS = {
    "fid": "FID ↓",
    "kid": "KID ↓",
    "ssim": "SSIM ↑",
    "part_delta_e": "Part ΔE ↓",
    "ab_distance": "a/b dist ↓",
    "swap": "Swap ↑",
}
INTERVAL_HEADINGS = {o: f"{HEADINGS[o][:-2]} 95% CI" for o in OBJECTIVES}
FAILED, REUSED, RAN = "failed", "reused", "ran"


@dataclass(frozen=True)
class RunResult:
    """One method at one seed measured under the compare's protocol: what its task returns,
    and what its run's `compare/result.json` holds (`to_record`) and a rerun reads back."""

    method: str
    seed: int
    key: str
    values: dict[str, float | None]  # objective (fid, kid, ssim) -> value: the table's columns
    logged_names: dict[str, str]  # objective -> the name it is logged under (split, stand-ins)
    metrics: dict[str, float]  # every metric as logged
    n: int  # test images measured
    backbone: str
    standins: tuple[str, ...]  # the seeded stand-in networks that produced the numbers
    reference: str | None  # the metrics.reference policy, for methods that use one
    eval_seconds: float
    bootstrap: Replicates | None = None  # None: evaluation.bootstrap_replicates is 0
    epochs: int | None = None  # trained; None for a method that trains nothing
    resumed_from: int | None = None
    train_step_seconds: float | None = None
    images_per_second: float | None = None
    seconds: float | None = None  # the task's wall time; not in result.json, written before

    def to_record(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["standins"] = list(self.standins)
        record["bootstrap"] = self.bootstrap.to_record() if self.bootstrap else None
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RunResult:
        """The result a run wrote; KeyError or TypeError if an older GANime wrote it."""
        fields = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in record.items() if k in fields}
        known["standins"] = tuple(record["standins"])
        bootstrap = record.get("bootstrap")
        known["bootstrap"] = Replicates.from_record(bootstrap) if bootstrap else None
        return cls(**known)


@dataclass(frozen=True)
class RunOutcome:
    """One method at one seed: what happened to it and, if it finished, its result."""

    method: str
    seed: int
    status: str  # RAN, REUSED or FAILED (a run an interrupt cut off has no outcome)
    run_id: str
    result: RunResult | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    def value(self, objective: str) -> float | None:
        value = self.result.values.get(objective) if self.result else None
        return None if value is None else float(value)


@dataclass
class MethodRow:
    method: str
    family: str
    paper_row: str | None  # the paper's row this method runs, if it reports one
    outcomes: list[RunOutcome] = dataclasses.field(default_factory=list)

    def measured(self, objective: str) -> list[RunOutcome]:
        """The finished runs with a finite value of `objective`."""
        return [
            o for o in self.outcomes if (v := o.value(objective)) is not None and math.isfinite(v)
        ]

    def replicates(self, objective: str) -> list[Replicates]:
        """The measured runs' replicates of `objective`, if every one has them and they were
        resampled alike; else [] (the interval is then the seeds' alone)."""
        found = [o.result.bootstrap for o in self.measured(objective) if o.result]
        if not found or any(r is None or not r.of(objective) for r in found):
            return []
        first = found[0]
        return found if all(r.pairs_with(first) for r in found) else []

    def estimate(self, objective: str) -> Estimate:
        """Mean over seeds, their spread and the bootstrap of the seed mean (module
        ganime_core.metrics.bootstrap)."""
        values = tuple(o.value(objective) for o in self.measured(objective))
        replicates = self.replicates(objective)
        if not replicates:
            return Estimate(values)
        means = np.mean([r.of(objective) for r in replicates], axis=0)  # r̄_b over seeds
        return Estimate(values, tuple(float(m) for m in means), replicates[0].n)

    def logged_names(self, objective: str) -> list[str]:
        """The names this method's `objective` was logged under (one, unless runs differ)."""
        found = (o.result.logged_names.get(objective) for o in self.outcomes if o.result)
        return list(dict.fromkeys(name for name in found if name))

    @property
    def finished(self) -> int:
        return sum(o.finished for o in self.outcomes)

    @property
    def failures(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def paper(self) -> paper.PaperResult | None:
        return paper.RESULTS.get(self.paper_row) if self.paper_row else None

    def beside_paper(self, objective: str) -> float | None:
        """The paper's value of `objective` for this row, where ours is comparable with it:
        measured with ImageNet networks and a drawn reference, as the paper's were (a name
        without stand-in or oracle marks). None otherwise, and for a row the paper lacks."""
        logged = self.logged_names(objective)
        if self.paper is None or not logged or not all(_as_the_paper(n) for n in logged):
            return None
        return self.paper.reported(objective)


def _as_the_paper(name: str) -> bool:
    try:
        parsed = names.parse(name)
    except ValueError:  # not a name this GANime writes: nothing to vouch for
        return False
    return not parsed.standins and parsed.reference is None


def _standin(name: str, network: str) -> bool:
    try:
        return network in names.parse(name).standins
    except ValueError:
        return False


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
    largest value (the paper's FIDs are ~200, a stand-in backbone's ~1), KID 4, SSIM 3, ΔE 1
    (a just-noticeable colour difference is about 2.3), the a/b distance 3 and swap 2."""
    if objective != "fid":
        return {"kid": 4, "ssim": 3, "part_delta_e": 1, "ab_distance": 3, "swap": 2}[objective]
    if not scale or scale >= 100:
        return 1
    return 2 if scale >= 10 else 3


def measured_objectives(rows: list[MethodRow]) -> tuple[str, ...]:
    """The objectives some method has a value of: the colour metrics only where the data and
    the methods allow them (part maps, references), so a compare without them shows none."""
    return tuple(o for o in OBJECTIVES if any(row.estimate(o).mean is not None for row in rows))


def scale_of(rows: list[MethodRow], objective: str) -> float | None:
    means = [row.estimate(objective).mean for row in rows]
    return max((abs(m) for m in means if m is not None), default=None)


def mean_text(estimate: Estimate, places: int) -> str:
    """mean ± std over seeds ('—' without a value; no spread with one seed)."""
    if estimate.mean is None:
        return "—"
    spread = f" ± {estimate.std:.{places}f}" if estimate.std is not None else ""
    return f"{estimate.mean:.{places}f}{spread}"


def interval_text(estimate: Estimate, places: int) -> str:
    interval = estimate.interval
    return "—" if interval is None else f"[{interval[0]:.{places}f}, {interval[1]:.{places}f}]"


def reduction(row: MethodRow, baseline: MethodRow | None) -> str:
    """FID reduction against the baseline's mean, in percent ('baseline' on its own row)."""
    if baseline is None:
        return "—"
    if row is baseline:
        return "baseline"
    fid, base = row.estimate("fid").mean, baseline.estimate("fid").mean
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
    shown = measured_objectives(rows)
    places = {o: digits(o, scale_of(rows, o)) for o in shown}
    cells = []
    for row in rows:
        runs = f"{row.finished}/{len(row.outcomes)}"
        if row.failures:
            runs += f" ({len(row.failures)} failed)"  # why: failure_notes()
        measured = {}
        for o in shown:
            estimate = row.estimate(o)
            measured[HEADINGS[o]] = mean_text(estimate, places[o])
            measured[INTERVAL_HEADINGS[o]] = interval_text(estimate, places[o])
        cells.append(
            {
                "Method": row.method,
                "Runs": runs,
                **measured,
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


def interval_notes(rows: list[MethodRow]) -> list[str]:
    """How the intervals were computed, and every method whose interval covers less."""
    resampled = [r for row in rows for o in OBJECTIVES for r in row.replicates(o)]
    if resampled:
        first = resampled[0]
        bootstrap = (
            f"Var_b the variance, over B = {first.count} resamples of the {first.n} test "
            f"images (with replacement, seed {first.seed}, the same for every method and "
            "seed: paired), of the seed mean's replicate"
        )
    else:
        bootstrap = "Var_b 0 (no bootstrap: evaluation.bootstrap_replicates 0)"
    lines = [
        "95% CI = mean over the k seeds ± t(0.975, ν) · sqrt(s²/k + Var_b): s the std over "
        f"seeds, {bootstrap}; ν by Welch–Satterthwaite over the two terms (k − 1 and n − 1 "
        "degrees of freedom); with one seed the bootstrap alone, t with n − 1.",
        "A replicate's FID and KID are recomputed on the resampled images (KID: the unbiased "
        "MMD² over all of them, what KID's subset mean estimates); SSIM's, part ΔE's and the "
        "a/b distance's are the means of the resampled per-image values; swap's is the ratio "
        "of the resampled sums.",
    ]
    for row in rows:
        sources: dict[str, list[str]] = {}
        for objective in OBJECTIVES:
            estimate = row.estimate(objective)
            if estimate.mean is not None and estimate.source != "seeds and test images":
                sources.setdefault(estimate.source, []).append(objective.upper())
        for source, objectives in sources.items():
            lines.append(f"{row.method} ({', '.join(objectives)}): interval from {source}")
    return lines


@dataclass(frozen=True)
class PairTest:
    """Methods `first` and `second` (ranked so by `objective`, best first) tested for a
    difference, with the Holm-adjusted p over every pair of that objective."""

    objective: str
    first: str
    second: str
    test: Difference
    adjusted_p: float
    caveats: tuple[str, ...] = ()

    @property
    def significant(self) -> bool:
        return self.adjusted_p <= ALPHA

    def line(self, places: int) -> str:
        t = self.test
        df = "∞" if math.isinf(t.df) else f"{t.df:.1f}"
        verdict = (
            f"significant at {ALPHA:g} (Holm)"
            if self.significant
            else f"not significant at {ALPHA:g} (Holm)"
        )
        caveats = "".join(f"; {c}" for c in self.caveats)
        return (
            f"{self.objective.upper()}: {self.first} − {self.second} = "
            f"{t.difference:+.{places + 1}f} (se {t.standard_error:.{places + 1}f}, "
            f"t({df}) = {t.t:+.3g}, p {_p_text(t.p)}, Holm-adjusted p "
            f"{_p_text(self.adjusted_p)}): {verdict}{caveats}"
        )


def _p_text(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"


def pair_tests(rows: list[MethodRow], objective: str) -> list[PairTest]:
    """Every pair of methods with a value of `objective`, ranked best first: Welch's t over
    seeds plus the paired bootstrap's variance of the difference, Holm-adjusted over the pairs
    (ganime_core.metrics.bootstrap). A pair that cannot be tested is left out of the family
    and of the list; `untested_pairs` says which and why."""
    found: list[tuple[MethodRow, MethodRow, Difference, tuple[str, ...]]] = []
    for first, second in itertools.combinations(_ranked(rows, objective), 2):
        inputs = _test_inputs(first, second, objective)
        if isinstance(inputs, str):
            continue
        a, b, caveats = inputs
        test = difference_test(a, b)
        if test is not None:
            found.append((first, second, test, caveats))
    adjusted = holm_adjusted([test.p for _, _, test, _ in found])
    return [
        PairTest(objective, first.method, second.method, test, p, caveats)
        for (first, second, test, caveats), p in zip(found, adjusted, strict=True)
    ]


def _ranked(rows: list[MethodRow], objective: str) -> list[MethodRow]:
    sign = 1 if names.MODES[objective] == "min" else -1
    ranked = [row for row in rows if row.estimate(objective).mean is not None]
    return sorted(ranked, key=lambda row: sign * row.estimate(objective).mean)


def _test_inputs(
    first: MethodRow, second: MethodRow, objective: str
) -> tuple[Estimate, Estimate, tuple[str, ...]] | str:
    """The two methods' estimates, their bootstrap terms kept only where they pair (the same
    resamples), and what the test then leaves out; or why the pair cannot be tested."""
    a, b = first.estimate(objective), second.estimate(objective)
    caveats = []
    ra, rb = first.replicates(objective), second.replicates(objective)
    if not (ra and rb and ra[0].pairs_with(rb[0])):
        a, b = (dataclasses.replace(e, replicate_means=()) for e in (a, b))
        caveats.append("no paired bootstrap: seed spread only")
    single = [row.method for row, e in ((first, a), (second, b)) if e.k == 1]
    if len(single) == 1:
        # Welch's t needs each method's spread; leaving one out would claim certainty.
        return f"{single[0]} has one finished seed: its seed spread is unknown"
    if single and not a.replicate_means:
        return "one seed each and no paired bootstrap"
    if single:
        caveats.append("one seed each: test-set sampling only, not seed variation")
    return a, b, tuple(caveats)


def untested_pairs(rows: list[MethodRow], objective: str) -> list[tuple[str, str, str]]:
    """(first, second, why) of each pair with values that no test covers."""
    untested = []
    for first, second in itertools.combinations(_ranked(rows, objective), 2):
        inputs = _test_inputs(first, second, objective)
        if isinstance(inputs, str):
            untested.append((first.method, second.method, inputs))
    return untested


def pair_notes(rows: list[MethodRow]) -> list[str]:
    """One line per pair of methods and objective, saying whether their difference is
    significant at 0.05 after Holm's correction over that objective's pairs."""
    lines = []
    for objective in measured_objectives(rows):
        tests = pair_tests(rows, objective)
        places = digits(objective, scale_of(rows, objective))
        if tests:
            lines.append(
                f"{objective.upper()}, every pair ({len(tests)}): Welch's t over seeds with the "
                "paired bootstrap's variance of the difference in its standard error "
                "(se² = s_A²/k_A + s_B²/k_B + Var_b(d_b)), ν by Welch–Satterthwaite, "
                f"two-sided p, Holm-adjusted over the {len(tests)} pairs."
            )
        lines += [test.line(places) for test in tests]
        for a, b, why in untested_pairs(rows, objective):
            lines.append(f"{objective.upper()}: {a} vs {b} not tested: {why}")
    return lines


def write_table_csv(rows: list[MethodRow], baseline: str | None, path: Path) -> Path:
    """One line per method: means, stds, intervals, the runs and the paper's numbers."""
    base = next((row for row in rows if row.method == baseline), None)
    measured = ("mean", "std", "ci_low", "ci_high", "ci_df", "ci_covers")
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "method", "family", "runs", "finished",
                *(f"{o}_{s}" for o in OBJECTIVES for s in measured),
                "fid_reduction_pct", "paper_row", "paper_fid", "paper_ssim", "run_ids", "failures",
            ]
        )  # fmt: skip
        for row in rows:
            fid, base_fid = row.estimate("fid").mean, base.estimate("fid").mean if base else None
            writer.writerow(
                [
                    row.method, row.family, len(row.outcomes), row.finished,
                    *(cell for o in OBJECTIVES for cell in _estimate_cells(row.estimate(o))),
                    _number(paper.fid_reduction(fid, base_fid) if fid and base_fid else None),
                    row.paper_row or "",
                    row.paper.fid if row.paper else "", row.paper.ssim if row.paper else "",
                    " ".join(o.run_id for o in row.outcomes),
                    "; ".join(f"seed {o.seed}: {o.error}" for o in row.failures),
                ]
            )  # fmt: skip
    return path


def _estimate_cells(estimate: Estimate) -> list[str]:
    low, high = estimate.interval or (None, None)
    df = estimate.df if estimate.interval else None
    return [
        _number(estimate.mean),
        _number(estimate.std),
        _number(low),
        _number(high),
        "inf" if df is not None and math.isinf(df) else _number(df),
        estimate.source if estimate.mean is not None else "",
    ]


def write_pairs_csv(rows: list[MethodRow], path: Path) -> Path:
    """One line per objective and pair of methods: the difference, its test and the verdict."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["objective", "first", "second", "difference", "standard_error", "df", "t", "p",
             "holm_adjusted_p", "significant", "caveats"]
        )  # fmt: skip
        for objective in OBJECTIVES:
            for test in pair_tests(rows, objective):
                t = test.test
                writer.writerow(
                    [
                        objective, test.first, test.second, _number(t.difference),
                        _number(t.standard_error), "inf" if math.isinf(t.df) else _number(t.df),
                        _number(t.t), _number(t.p), _number(test.adjusted_p),
                        test.significant, "; ".join(test.caveats),
                    ]
                )  # fmt: skip
    return path


def write_runs_csv(outcomes: list[RunOutcome], path: Path) -> Path:
    """One line per method and seed: what the table's means and stds are computed from."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        heads = ["method", "seed", "status", *OBJECTIVES, "n", "bootstrap_replicates",
                 "seconds", "run_id", "error"]  # fmt: skip
        writer.writerow(heads)
        for o in sorted(outcomes, key=lambda o: (o.method, o.seed)):
            result = o.result
            replicates = result.bootstrap.count if result and result.bootstrap else 0
            writer.writerow(
                [
                    o.method, o.seed, o.status, *(_number(o.value(x)) for x in OBJECTIVES),
                    result.n if result else "", replicates if result else "",
                    _number(result.seconds if result else None), o.run_id, o.error or "",
                ]
            )  # fmt: skip
    return path


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


# --- the chart ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPanel:
    """One panel of the bar chart: a bar per method at its mean, error bars its 95% interval,
    and the paper's values as markers only beside numbers comparable with them."""

    objective: str
    axis_label: str
    methods: tuple[str, ...]
    means: tuple[float | None, ...]  # None: no value (no bar)
    errors: tuple[tuple[float, float] | None, ...]  # (below, above) the mean: the interval
    paper: tuple[tuple[int, float], ...]  # (the method's bar, the paper's value)


# The paper's two columns, then how closely the references are followed, where measured.
CHARTED = ("fid", "ssim", "part_delta_e", "swap")


def chart_panels(rows: list[MethodRow]) -> tuple[ChartPanel, ...]:
    """What the bar chart draws. FID's axis names the InceptionV3 that measured it; where that
    was the seeded stand-in (names marked so), no paper FID is drawn: the paper's 220-345 beside
    a stand-in's ~0.4 would compare different scales and flatten the bars."""
    panels = []
    measured = measured_objectives(rows)
    for objective in (o for o in CHARTED if o in measured or o in ("fid", "ssim")):
        estimates = [row.estimate(objective) for row in rows]
        errors = []
        for estimate in estimates:
            interval = estimate.interval
            mean = estimate.mean
            errors.append(None if interval is None else (mean - interval[0], interval[1] - mean))
        marks = tuple(
            (i, value) for i, row in enumerate(rows) if (value := row.beside_paper(objective))
        )
        panels.append(
            ChartPanel(
                objective,
                _axis_label(rows, objective),
                tuple(row.method for row in rows),
                tuple(e.mean for e in estimates),
                tuple(errors),
                marks,
            )
        )
    return tuple(panels)


def _axis_label(rows: list[MethodRow], objective: str) -> str:
    arrow = " ↓" if names.MODES[objective] == "min" else " ↑"
    if objective == "part_delta_e":
        return f"part colour error, CIELAB ΔE{arrow}"
    if objective == "swap":
        return f"swap (1 follows the reference){arrow}"
    if objective != "ssim":
        logged = [name for row in rows for name in row.logged_names(objective)]
        standin = any(_standin(name, names.INCEPTION) for name in logged)
        backbone = "seeded stand-in InceptionV3, untrained" if standin else "ImageNet InceptionV3"
        return f"{objective.upper()} ({backbone}){arrow}"
    return f"{objective.upper()}{arrow}"


def bar_figure(panels: tuple[ChartPanel, ...], seeds: int) -> Figure:
    """The chart's figure (not saved): one Axes per panel, the bars labelled 'this compare',
    the markers 'paper'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = max((len(p.methods) for p in panels), default=0)
    figure, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 1.6 * count + 2), 4))
    for axis, panel in zip(np.atleast_1d(axes), panels, strict=True):
        x = np.arange(len(panel.methods))
        # A method with no finished run (NaN) gets neither a bar nor an error bar at 0.
        means = [m if m is not None else np.nan for m in panel.means]
        below = [e[0] if e else np.nan for e in panel.errors]
        above = [e[1] if e else np.nan for e in panel.errors]
        axis.bar(x, means, yerr=[below, above], capsize=4, color="#4c72b0", label="this compare")
        if panel.paper:
            axis.scatter(*zip(*panel.paper, strict=True), marker="D", color="black", zorder=3,
                         label="paper")  # fmt: skip
        axis.set_xticks(x, list(panel.methods), rotation=30, ha="right")
        axis.set_ylabel(panel.axis_label)
        axis.legend(fontsize=8)
    figure.suptitle(f"mean over {seeds} seed(s); error bars: the table's 95% CI")
    figure.tight_layout()
    return figure


def plot_bars(rows: list[MethodRow], path: Path) -> Path:
    """FID and SSIM per method (`chart_panels`) as a PNG at `path`."""
    seeds = max((len(row.outcomes) for row in rows), default=0)
    figure = bar_figure(chart_panels(rows), seeds)
    import matplotlib.pyplot as plt  # after bar_figure chose the Agg backend

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
