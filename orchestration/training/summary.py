"""The JSON line `ganime train` prints last, the same for either runner."""

from __future__ import annotations

from typing import Any

from ganime_core.metrics import names


def run_summary(
    *,
    runner: str,
    workers: int,
    metrics: dict[str, Any],
    checkpoint: str | None,
    mlflow_run_id: str,
) -> dict[str, Any]:
    """`metrics` are the last epoch's, as reported (names.EPOCH and names.RESUMED_FROM among
    them)."""
    return {
        "runner": runner,
        "workers": workers,
        "epochs_completed": metrics.get(names.EPOCH),
        "resumed_from": metrics.get(names.RESUMED_FROM),
        "metrics": metrics,
        "checkpoint": checkpoint,
        "mlflow_run_id": mlflow_run_id,
    }
