"""Ray callbacks of a sweep: Train -> Tune forwarding in each trial, and the driver's view.

Kept apart from orchestration.sweep so that validating a sweep (`--dry-run`) imports no Tune.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback
from ray.tune.integration.ray_train import TuneReportCallback

from orchestration.distributed import TRACKED
from orchestration.sweep import (
    close_trial_run,
    find_trial_run,
    short_value,
    trial_name,
    trial_number,
)
from orchestration.sweep_config import Sweep


class ReportEvaluationsToTune(TuneReportCallback):
    """Runs in a trial's Train controller. Forwards rank 0's report to Tune only once MLflow
    holds the epoch (the TRACKED report), and only evaluated epochs: Tune requires the metric in
    every result, and ASHA stops trials on it, so a stopped trial never loses its last epoch."""

    def __init__(self, metric_key: str) -> None:
        super().__init__()
        self.metric_key = metric_key

    def after_report(self, run_context: Any, metrics: list[dict], checkpoint: Any) -> None:
        if metrics and metrics[0].get(TRACKED) and self.metric_key in metrics[0]:
            super().after_report(run_context, metrics, None)


class TrialOutcomes(Callback):
    """Marks each child run as its trial ends: why it stopped (completed, stopped early by ASHA,
    failed), its status, and the trial's wall time. The sweep's summary repeats the first two
    for any run a killed driver left open."""

    def __init__(self, uri: str, sweep: str, max_epochs: int) -> None:
        self.uri = uri
        self.sweep = sweep
        self.max_epochs = max_epochs
        self.started: dict[str, float] = {}  # trial id -> when Tune started it

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.time()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=str(trial.get_error() or "error"))

    def _close(self, trial: Any, error: str | None) -> None:
        run_id = find_trial_run(self.uri, self.sweep, trial.trial_id)
        if run_id is None:
            return  # the trial failed before it opened its run
        seconds = None
        if trial.trial_id in self.started:  # the wall time of the whole trial, start-up included
            seconds = time.time() - self.started.pop(trial.trial_id)
        # Judged by the epochs MLflow holds, not Tune's last result: a trial restarted after its
        # driver was killed may end at once, reporting nothing, its epochs long done.
        close_trial_run(self.uri, run_id, self.max_epochs, error, seconds)


class ProgressTable(Callback):
    """The sweep as a live table: trial, params, epoch, metric, status.

    Redrawn in place on a terminal; elsewhere (CI logs, files) printed whenever a trial's status
    changes, so the log stays short.
    """

    def __init__(self, sweep: Sweep) -> None:
        self.keys = list(sweep.config.search)
        self.metric = sweep.metric_key
        self._live = None
        self._shown: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_live": None}  # Tune saves its callbacks with the experiment

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        from rich.console import Console
        from rich.live import Live

        statuses = {trial.trial_id: trial.status for trial in trials}
        if self._live is None:
            console = Console()
            if console.is_terminal:
                self._live = Live(console=console, auto_refresh=False, transient=False)
                self._live.start()
        if self._live is not None:
            self._live.update(self.table(trials), refresh=True)
        elif statuses != self._shown:
            Console().print(self.table(trials))
        self._shown = statuses

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._live is not None:
            self._live.update(self.table(trials), refresh=True)
            self._live.stop()
            self._live = None

    def table(self, trials: list) -> Any:
        from rich.table import Table

        table = Table(title="sweep", title_justify="left")
        for column in ["trial", *(key.rpartition(".")[2] for key in self.keys), "epoch"]:
            table.add_column(column, justify="right")
        table.add_column(self.metric, justify="right")
        table.add_column("status")
        for trial in sorted(trials, key=lambda t: trial_number(trial_name(t))):
            result = trial.last_result or {}
            value = result.get(self.metric)
            table.add_row(
                str(trial_number(trial_name(trial))),
                *(short_value(trial.config.get(key, "")) for key in self.keys),
                str(result.get("epoch", "")),
                "" if value is None else f"{value:.4g}",
                trial.status.lower(),
            )
        return table
