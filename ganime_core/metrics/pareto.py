"""Pareto fronts over metric values (directions from names.mode), and a rule that picks one
point of a front: what a multi-objective sweep reports and `promote --sweep` takes."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from ganime_core.metrics import names

MetricValues = Mapping[str, float]  # metric name -> value


def dominates(a: MetricValues, b: MetricValues, metrics: tuple[str, ...]) -> bool:
    """Whether `a` is at least as good as `b` on every metric and better on one."""
    better = False
    for metric in metrics:
        if a[metric] == b[metric]:
            continue
        if names.is_better(metric, a[metric], b[metric]):
            better = True
        else:
            return False
    return better


def front(points: Mapping[Hashable, MetricValues], metrics: tuple[str, ...]) -> list[Hashable]:
    """The keys of the points no other point dominates, in the points' order."""
    return [
        key
        for key, point in points.items()
        if not any(dominates(other, point, metrics) for other in points.values())
    ]


def within(value: float, best: float, metric: str, fraction: float) -> bool:
    """Whether `value` is at most `fraction` worse than `best` on `metric` (relative to it)."""
    slack = abs(best) * fraction
    return value <= best + slack if names.mode(metric) == "min" else value >= best - slack


def pick(
    points: Mapping[Hashable, MetricValues], metrics: tuple[str, ...], prefer: str, fraction: float
) -> Hashable | None:
    """The point of the front with the best `prefer` among those within `fraction` of the
    front's best value of every other metric; None if there are no points."""
    keys = front(points, metrics)
    if not keys:
        return None
    others = [metric for metric in metrics if metric != prefer]
    best = {m: _best(m, [points[k][m] for k in keys]) for m in others}
    eligible = [k for k in keys if all(within(points[k][m], best[m], m, fraction) for m in others)]
    choose = min if names.mode(prefer) == "min" else max
    return choose(eligible, key=lambda k: points[k][prefer])


def _best(metric: str, values: list[float]) -> float:
    return min(values) if names.mode(metric) == "min" else max(values)


def describe_pick(prefer: str, others: list[str], fraction: float) -> str:
    """The pick rule in words, as the sweep's summary and `promote` state it."""
    return (
        f"the best {prefer} on the Pareto front among trials within {fraction:.0%} of the "
        f"best {', '.join(others)}"
    )
