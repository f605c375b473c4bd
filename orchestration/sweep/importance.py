"""Which searched keys explained a sweep's result: Optuna's fANOVA importance evaluator over the
trials that reported the metric, as a bar chart on the parent run and a line in the summary.

The trials are handed to an in-memory Optuna study as finished trials (their values and
the dimensions they were drawn from), so the estimate is the same whatever sampled them: TPE,
random, a grid or PBT (whose trials are ranked by their final values).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from ganime_core.metrics import names
from orchestration.sweep.spec import Dimension, Sweep

EVALUATOR = "fANOVA"
MIN_TRIALS = 2  # fANOVA's forest needs two values to split; fewer say so instead


@dataclass(frozen=True)
class Importance:
    """The share of the metric's variance each searched key explains (summing to 1)."""

    metric: str
    trials: int
    shares: dict[str, float]  # key -> share, largest first

    def line(self) -> str:
        shown = ", ".join(
            f"{key.rpartition('.')[2]} {share:.2f}" for key, share in self.shares.items()
        )
        return f"importance ({EVALUATOR} on {self.metric}, {self.trials} trials): {shown}"


@dataclass(frozen=True)
class NoImportance:
    reason: str

    def line(self) -> str:
        return f"importance: {self.reason}"


def parameter_importance(
    sweep: Sweep, points: list[tuple[dict[str, Any], dict[str, float]]], metric: str
) -> Importance | NoImportance:
    """fANOVA over `points` (each trial's searched values and metrics) for `metric`."""
    scored = [(params, values[metric]) for params, values in points if metric in values]
    if len(scored) < MIN_TRIALS:
        return NoImportance(
            f"needs at least {MIN_TRIALS} trials that reported {metric}; this sweep has "
            f"{len(scored)}"
        )
    search = sweep.config.search
    varied = [key for key in search if len({repr(p[key]) for p, _ in scored}) > 1]
    if not varied:
        return NoImportance(f"every trial that reported {metric} had the same searched values")
    distributions = {key: _distribution(search[key]) for key in varied}
    study = optuna.create_study(direction="minimize" if names.mode(metric) == "min" else "maximize")
    for params, value in scored:
        study.add_trial(
            optuna.trial.create_trial(
                params={key: params[key] for key in varied},
                distributions=distributions,
                value=value,
            )
        )
    shares = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=sweep.config.seed)
    )
    shares.update({key: 0.0 for key in search if key not in shares})  # never varied: nothing
    return Importance(metric, len(scored), dict(shares))


def _distribution(dimension: Dimension) -> optuna.distributions.BaseDistribution:
    if dimension.choice is not None:
        return optuna.distributions.CategoricalDistribution(dimension.choice)
    low, high = dimension.extremes()
    if dimension.integer is not None:
        return optuna.distributions.IntDistribution(low, high)
    return optuna.distributions.FloatDistribution(low, high, log=dimension.loguniform is not None)


def plot_importance(sweep: Sweep, importance: Importance, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    keys = list(importance.shares)[::-1]  # the largest on top
    figure, axis = plt.subplots(figsize=(6, 0.6 * len(keys) + 1.4))
    axis.barh(keys, [importance.shares[key] for key in keys], color="tab:blue")
    axis.set_xlim(0, 1)
    axis.set_xlabel(f"share of {importance.metric}'s variance ({EVALUATOR})")
    axis.set_title(f"{sweep.name}: parameter importance over {importance.trials} trials")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
