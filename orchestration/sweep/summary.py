"""A sweep's result: one row per trial from Tune's own results, the best trial, the table and
plot logged on the parent run, and the lines the terminal shows at the end."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganime_core.errors import exception_message
from ganime_core.metrics import names, pareto
from orchestration.sweep.spec import PickRule, Sweep, SweepConfig
from orchestration.tracking.runs import browse_hint

# The key of a trial's MLflow run in each Tune result it reports (sweep/trainable.py puts it
# there beside the metrics; Tune's results are dicts).
RESULT_RUN_ID = "mlflow_run_id"

COMPLETED = "completed"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class TrialRow:
    """One trial of a sweep, from Tune's results: a line of trials.csv."""

    trial: int  # its number, in the order trials started
    trial_id: str  # Tune's
    params: dict[str, Any]  # the searched values, by config key
    epochs: int  # trained
    status: str  # what its MLflow run ends as: FINISHED, KILLED, FAILED
    stop_reason: str
    run_id: str  # its MLflow run ("" if it never opened one)
    best_epoch: int | None = None  # the evaluated epoch with the best metric; None: none was
    metrics: dict[str, float] = field(default_factory=dict)  # every evaluation at best_epoch
    ended: bool = True  # False: the driver's interrupt cut it off; it continues on --resume
    schedule: str = ""  # a PBT trial's values and exploits (lineage.TrialRecord.schedule)

    def value(self, name: str) -> float | None:
        """An evaluation metric at the best epoch; None if it was not measured."""
        return self.metrics.get(name)

    def columns(self) -> dict[str, Any]:
        """The row as trials.csv and the parent run's table show it."""
        return {
            "trial": self.trial,
            "trial_id": self.trial_id,
            **self.params,
            "epochs": self.epochs,
            **({"best_epoch": self.best_epoch} if self.best_epoch is not None else {}),
            **self.metrics,
            "status": self.status,
            "stop_reason": self.stop_reason,
            **({"schedule": self.schedule} if self.schedule else {}),
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class SweepOutcome:
    parent_run_id: str
    experiment_id: str
    trials: list[TrialRow]  # in trial order
    best: TrialRow | None  # None if no trial reported the metric
    interrupted: bool = False
    importance: list[str] = field(default_factory=list)  # a line per metric (importance.py)


def trial_outcome(
    epochs: int, config: SweepConfig, error: str | None, ended: bool
) -> tuple[str, str]:
    """(stop reason, MLflow status) of a trial that trained `epochs` epochs. `ended` is False
    for a trial the driver's interrupt cut off: it continues on `--resume`."""
    if error is not None:
        return f"failed: {exception_message(error) or 'error'}", "FAILED"
    if epochs >= config.max_epochs:
        return COMPLETED, "FINISHED"
    if not ended:
        return f"{INTERRUPTED} at epoch {epochs}", "KILLED"
    return f"stopped early by {config.scheduler.upper()} at epoch {epochs}", "KILLED"


def best_evaluation(history: list[dict[str, Any]], key: str) -> tuple[int | None, dict[str, float]]:
    """The epoch of the evaluated result with the best `key` in a trial's results, and every
    evaluation metric at that epoch (FID, KID, SSIM of the same split and stand-ins as `key`);
    (None, {}) if no result has `key`."""
    scored = [r for r in history if _number(r.get(key)) is not None]
    if not scored:
        return None, {}
    pick = min if names.mode(key) == "min" else max
    best = pick(scored, key=lambda r: r[key])
    found = {name: _number(best.get(name)) for name in names.siblings(key)}
    return int(best[names.EPOCH]), {name: v for name, v in found.items() if v is not None}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def last_evaluation(
    history: list[dict[str, Any]], keys: tuple[str, ...]
) -> tuple[int | None, dict[str, float]]:
    """The epoch of the last result with every one of `keys` in a trial's results, and every
    evaluation metric there: a trial's point on a front is where it ended."""
    scored = [r for r in history if all(_number(r.get(key)) is not None for key in keys)]
    if not scored:
        return None, {}
    last = scored[-1]
    found = {name: _number(last.get(name)) for name in names.siblings(keys[0])}
    return int(last[names.EPOCH]), {name: v for name, v in found.items() if v is not None}


def pick_rule(sweep: Sweep) -> PickRule:
    """How a multi-objective sweep's best trial is picked from its front: the file's `pick`,
    else the first metric within 5% of the best of the others."""
    return sweep.config.pick or PickRule(prefer=sweep.config.objectives[0])


def pick_rule_line(sweep: Sweep) -> str:
    rule = pick_rule(sweep)
    return rule.describe([o for o in sweep.config.objectives if o != rule.prefer])


def front_rows(sweep: Sweep, rows: list[TrialRow]) -> list[TrialRow]:
    """The trials on the Pareto front of the sweep's metrics, in trial order."""
    keys = sweep.metric_keys
    scored = {row.trial: row for row in rows if all(row.value(k) is not None for k in keys)}
    on_front = pareto.front({t: row.metrics for t, row in scored.items()}, keys)
    return [scored[trial] for trial in on_front]


def pick_best(sweep: Sweep, rows: list[TrialRow]) -> TrialRow | None:
    """The trial with the best metric; of a multi-objective sweep, the one its pick rule takes
    from the front."""
    if sweep.multi_objective:
        rule = pick_rule(sweep)
        keys = sweep.metric_keys
        prefer = keys[sweep.config.objectives.index(rule.prefer)]
        points = {row.trial: row.metrics for row in front_rows(sweep, rows)}
        picked = pareto.pick(points, keys, prefer, rule.within)
        return next((row for row in rows if row.trial == picked), None)
    key = sweep.metric_key
    scored = [row for row in rows if row.value(key) is not None]
    if not scored:
        return None
    pick = min if sweep.config.objective_mode == "min" else max
    return pick(scored, key=lambda row: row.metrics[key])


def tally(rows: list[TrialRow]) -> str:
    """'4 completed, 2 stopped early by ASHA' from the rows' stop reasons."""
    reasons = [row.stop_reason.partition(":")[0].partition(" at ")[0] for row in rows]
    return ", ".join(f"{reasons.count(r)} {r}" for r in dict.fromkeys(reasons))


def report_lines(sweep: Sweep, outcome: SweepOutcome) -> list[str]:
    """What the terminal shows at the end: the best trial, the tally, the front and the
    parameter importance, how to browse it."""
    lines = [f"sweep {sweep.name}: {len(outcome.trials)} trials ({tally(outcome.trials)})"]
    if sweep.multi_objective:
        front = ", ".join(str(row.trial) for row in front_rows(sweep, outcome.trials))
        lines.append(f"Pareto front of {', '.join(sweep.metric_keys)}: trials {front or 'none'}")
        lines.append(f"picked by: {pick_rule_line(sweep)}")
    best = outcome.best
    if best is None:
        lines.append(f"no trial reported {sweep.metric_key}; see the trials' stop reasons")
    else:
        params = ", ".join(f"{key}={short_value(best.params[key])}" for key in sweep.config.search)
        metrics = ", ".join(
            f"{name} {best.metrics[name]:.4g}"
            for name in names.siblings(sweep.metric_key)
            if name in best.metrics and names.parse(name).metric != names.KID_STD
        )
        lines += [
            f"best trial {best.trial} (MLflow run {best.run_id}): {params}",
            f"  at epoch {best.best_epoch}: {metrics}",
        ]
        if best.schedule:
            lines.append(f"  schedule: {best.schedule}")
    lines += outcome.importance
    where = f"#/experiments/{outcome.experiment_id}/runs/{outcome.parent_run_id}"
    lines.append(f"browse it: {browse_hint(where)}")
    return lines


def note(
    sweep: Sweep, rows: list[TrialRow], best: TrialRow | None, importance: tuple[str, ...] = ()
) -> str:
    """The parent run's description (markdown): the best trial, the importance, every trial."""
    ranked = ", ".join(f"`{key}` ({names.mode(key)})" for key in sweep.metric_keys)
    lines = [f"**Sweep {sweep.name}**: {len(rows)} trials ({tally(rows)}), ranked by {ranked}."]
    if sweep.multi_objective:
        front = ", ".join(str(row.trial) for row in front_rows(sweep, rows))
        lines.append(
            f"\nPareto front: trials {front or 'none'}; picked by {pick_rule_line(sweep)}."
        )
    if best is not None:
        params = ", ".join(f"`{k}` = {short_value(best.params[k])}" for k in sweep.config.search)
        values = ", ".join(f"{key} {best.metrics[key]:.4g}" for key in sweep.metric_keys)
        lines.append(
            f"\n**Best: trial {best.trial}** ({params}): {values} at epoch {best.best_epoch}."
        )
        if best.schedule:
            lines.append(f"\nIts schedule: {best.schedule}.")
    lines += [f"\n{line}." for line in importance]
    return "\n".join(lines) + "\n\n" + markdown_table(rows)


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


def write_trials_csv(rows: list[TrialRow], path: Path) -> None:
    lines = [row.columns() for row in rows]
    columns = list(dict.fromkeys(column for line in lines for column in line))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(lines)


def markdown_table(rows: list[TrialRow]) -> str:
    lines = [row.columns() for row in rows]
    columns = list(
        dict.fromkeys(c for line in lines for c in line if c not in ("trial_id", "run_id"))
    )

    def cell(value: Any) -> str:
        return short_value(value) if value is not None else ""

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(cell(line.get(c)) for c in columns) + " |" for line in lines),
    ]
    return "\n".join(lines) + "\n"


def plot_metric(sweep: Sweep, rows: list[TrialRow], path: Path) -> bool:
    """The metric against each searched hyperparameter, one panel each; False if no trial has
    the metric."""
    key = sweep.metric_key
    scored = [row for row in rows if row.value(key) is not None]
    if not scored:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    search = sweep.config.search
    figure, axes = plt.subplots(1, len(search), figsize=(4 * len(search), 3.4), squeeze=False)
    for axis, (name, dimension) in zip(axes[0], search.items(), strict=True):
        values = [row.params[name] for row in scored]
        if dimension.kind == "choice":
            labels = [str(choice) for choice in dimension.extremes()]
            values = [labels.index(str(value)) for value in values]
            axis.set_xticks(range(len(labels)), labels)
        elif dimension.kind == "loguniform":
            axis.set_xscale("log")
        stopped = [row.status != "FINISHED" for row in scored]
        axis.scatter(
            values,
            [row.metrics[key] for row in scored],
            c=["tab:orange" if s else "tab:blue" for s in stopped],
        )
        axis.set_xlabel(name)
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{sweep.name}: {key} per trial (orange: stopped early or failed)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def plot_front(sweep: Sweep, rows: list[TrialRow], best: TrialRow | None, path: Path) -> bool:
    """Every trial's point in the sweep's first two metrics, the front highlighted and joined,
    the picked trial ringed; False if no trial has both."""
    x_key, y_key = sweep.metric_keys[:2]
    scored = [row for row in rows if row.value(x_key) is not None and row.value(y_key) is not None]
    if not scored:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    on_front = front_rows(sweep, rows)
    figure, axis = plt.subplots(figsize=(5.5, 4.2))
    others = [row for row in scored if row not in on_front]
    axis.scatter(
        [r.metrics[x_key] for r in others],
        [r.metrics[y_key] for r in others],
        color="tab:gray",
        label="dominated",
    )
    line = sorted(on_front, key=lambda r: r.metrics[x_key])
    axis.plot(
        [r.metrics[x_key] for r in line],
        [r.metrics[y_key] for r in line],
        "o-",
        color="tab:red",
        label="Pareto front",
    )
    for row in scored:
        axis.annotate(
            str(row.trial),
            (row.metrics[x_key], row.metrics[y_key]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    if best is not None:
        axis.scatter(
            [best.metrics[x_key]],
            [best.metrics[y_key]],
            s=220,
            facecolors="none",
            edgecolors="black",
            label=f"picked: trial {best.trial}",
        )
    axis.set_xlabel(f"{x_key} ({names.mode(x_key)})")
    axis.set_ylabel(f"{y_key} ({names.mode(y_key)})")
    axis.set_title(f"{sweep.name}: each trial's last evaluation", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
