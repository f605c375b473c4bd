"""A sweep's result: one row per trial from Tune's own results, the best trial, the table and
plot logged on the parent run, and the lines the terminal shows at the end."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganime_core.metrics import names
from orchestration.sweep.spec import Sweep
from orchestration.tracking.runs import browse_hint

# What every trial result carries besides its metrics (sweep/trainable.py puts it there).
RUN_ID = "mlflow_run_id"

COMPLETED = "completed"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class SweepOutcome:
    parent_run_id: str
    experiment_id: str
    trials: list[dict[str, Any]]  # one row per trial, as in trials.csv
    best: dict[str, Any] | None  # the best row, None if no trial reported the metric
    interrupted: bool = False


def trial_outcome(epochs: int, max_epochs: int, error: str | None, ended: bool) -> tuple[str, str]:
    """(stop reason, MLflow status) of a trial that trained `epochs` epochs. `ended` is False
    for a trial the driver's interrupt cut off: it continues on `--resume`."""
    if error is not None:
        return f"failed: {last_line(error) or 'error'}", "FAILED"
    if epochs >= max_epochs:
        return COMPLETED, "FINISHED"
    if not ended:
        return f"{INTERRUPTED} at epoch {epochs}", "KILLED"
    return f"stopped early by ASHA at epoch {epochs}", "KILLED"


def last_line(text: str) -> str:
    """The message of the last non-empty line, where a traceback names its exception:
    'pkg.TrialFailed: loss became nan' -> 'loss became nan'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    head, sep, message = lines[-1].partition(": ")
    is_exception_name = sep and head.replace(".", "").replace("_", "").isalnum()
    return message if is_exception_name and head[-1:].isalpha() and " " not in head else lines[-1]


def best_evaluation(history: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The evaluated result with the best `key` in a trial's results, and every evaluation
    metric at that epoch (FID, KID, SSIM of the same split and stand-ins as `key`)."""
    scored = [r for r in history if _number(r.get(key)) is not None]
    if not scored:
        return {}
    pick = min if names.mode(key) == "min" else max
    best = pick(scored, key=lambda r: r[key])
    found: dict[str, Any] = {"best_epoch": int(best[names.EPOCH])}
    for name in names.siblings(key):
        value = _number(best.get(name))
        if value is not None:
            found[name] = value
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def pick_best(sweep: Sweep, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    key = sweep.metric_key
    scored = [row for row in rows if key in row]
    if not scored:
        return None
    pick = min if sweep.config.objective_mode == "min" else max
    return pick(scored, key=lambda row: row[key])


def tally(rows: list[dict[str, Any]]) -> str:
    """'4 completed, 2 stopped early by ASHA' from the rows' stop reasons."""
    reasons = [row["stop_reason"].partition(":")[0].partition(" at ")[0] for row in rows]
    return ", ".join(f"{reasons.count(r)} {r}" for r in dict.fromkeys(reasons))


def report_lines(sweep: Sweep, outcome: SweepOutcome) -> list[str]:
    """What the terminal shows at the end: the best trial, the tally, how to browse it."""
    lines = [f"sweep {sweep.name}: {len(outcome.trials)} trials ({tally(outcome.trials)})"]
    best = outcome.best
    if best is None:
        lines.append(f"no trial reported {sweep.metric_key}; see the trials' stop reasons")
    else:
        params = ", ".join(f"{key}={short_value(best[key])}" for key in sweep.config.search)
        metrics = ", ".join(
            f"{name} {best[name]:.4g}"
            for name in names.siblings(sweep.metric_key)
            if name in best and names.parse(name).metric != names.KID_STD
        )
        lines += [
            f"best trial {best['trial']} (MLflow run {best['run_id']}): {params}",
            f"  at epoch {best['best_epoch']}: {metrics}",
        ]
    where = f"#/experiments/{outcome.experiment_id}/runs/{outcome.parent_run_id}"
    lines.append(f"browse it: {browse_hint(where)}")
    return lines


def note(sweep: Sweep, rows: list[dict[str, Any]], best: dict[str, Any] | None) -> str:
    """The parent run's description (markdown): the best trial, then every trial."""
    lines = [
        f"**Sweep {sweep.name}**: {len(rows)} trials ({tally(rows)}), ranked by "
        f"`{sweep.metric_key}` ({sweep.config.objective_mode})."
    ]
    if best is not None:
        params = ", ".join(f"`{k}` = {short_value(best[k])}" for k in sweep.config.search)
        lines.append(
            f"\n**Best: trial {best['trial']}** ({params}): {sweep.metric_key} "
            f"{best[sweep.metric_key]:.4g} at epoch {best['best_epoch']}."
        )
    return "\n".join(lines) + "\n\n" + markdown_table(rows)


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row if c not in ("trial_id", "run_id")))

    def cell(value: Any) -> str:
        return short_value(value) if value is not None else ""

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def plot_metric(sweep: Sweep, rows: list[dict], path: Path) -> bool:
    """The metric against each searched hyperparameter, one panel each; False if no trial has
    the metric."""
    key = sweep.metric_key
    scored = [row for row in rows if key in row]
    if not scored:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    search = sweep.config.search
    figure, axes = plt.subplots(1, len(search), figsize=(4 * len(search), 3.4), squeeze=False)
    for axis, (name, dimension) in zip(axes[0], search.items(), strict=True):
        values = [row[name] for row in scored]
        if dimension.kind == "choice":
            labels = [str(choice) for choice in dimension.extremes()]
            values = [labels.index(str(value)) for value in values]
            axis.set_xticks(range(len(labels)), labels)
        elif dimension.kind == "loguniform":
            axis.set_xscale("log")
        stopped = [row["status"] != "FINISHED" for row in scored]
        axis.scatter(
            values,
            [row[key] for row in scored],
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
