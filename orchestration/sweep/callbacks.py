"""The driver's view of a sweep as its trials start and end: each trial's outcome written to
MLflow, and the live table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import cloudpickle
from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ganime_core.errors import exception_message
from ganime_core.metrics import names
from orchestration.sweep.spec import Sweep
from orchestration.sweep.summary import RESULT_RUN_ID, short_value, trial_outcome
from orchestration.sweep.trainable import trial_name, trial_number
from orchestration.tracking.sweeps import close_trial_run, find_trial_run
from orchestration.training.ray_train import failure_reason


class TrialOutcomes(Callback):
    """Writes each trial's outcome to its MLflow run as the trial ends: completed, stopped
    early by ASHA, or failed, with its status and wall time. Judged from Tune's own view of
    the trial (its last result, its error); a trial cut off by an interrupt gets no event here,
    and the driver marks it."""

    def __init__(self, uri: str, sweep: Sweep) -> None:
        self.uri = uri
        self.sweep = sweep.name
        self.config = sweep.config
        self.started: dict[str, float] = {}  # trial id -> when Tune started it

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.time()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=trial_error(trial))

    def _close(self, trial: Any, error: str | None) -> None:
        result = trial.last_result or {}
        run_id = result.get(RESULT_RUN_ID) or find_trial_run(self.uri, self.sweep, trial.trial_id)
        if run_id is None:
            return  # it failed before it opened its run
        seconds = None
        if trial.trial_id in self.started:  # the wall time of the whole trial, start-up included
            seconds = time.time() - self.started.pop(trial.trial_id)
        epochs = int(result.get(names.EPOCH, 0))
        reason, status = trial_outcome(epochs, self.config, error, ended=True)
        close_trial_run(self.uri, run_id, reason, status, seconds)


def trial_error(trial: Any) -> str:
    """Why a trial failed, in one line. Tune has just written the error beside the driver (it
    reaches the sweep's storage later): read it there."""
    pickled = Path(trial.pickled_error_file or "")
    if pickled.is_file():
        with pickled.open("rb") as handle:
            return failure_reason(cloudpickle.load(handle))
    return exception_message(str(trial.get_error() or "")) or "error"


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
        self.stop(trials)

    def stop(self, trials: list) -> None:
        if self._live is not None:
            self._live.update(self.table(trials), refresh=True)
            self._live.stop()
            self._live = None

    def table(self, trials: list) -> Table:
        # The metric's full name (split, stand-ins) is too wide for a column: it is the caption.
        metric = names.parse(self.metric)
        table = Table(title="sweep", title_justify="left", caption=self.metric)
        for column in ["trial", *(key.rpartition(".")[2] for key in self.keys), "epoch"]:
            table.add_column(column, justify="right")
        table.add_column(f"{metric.split} {metric.metric}", justify="right")
        table.add_column("status")
        for trial in sorted(trials, key=lambda t: trial_number(trial_name(t))):
            result = trial.last_result or {}
            value = result.get(self.metric)
            table.add_row(
                str(trial_number(trial_name(trial))),
                *(short_value(trial.config.get(key, "")) for key in self.keys),
                str(result.get(names.EPOCH, "")),
                "" if value is None else f"{value:.4g}",
                trial.status.lower(),
            )
        return table
