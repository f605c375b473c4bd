"""Every use GANime makes of Ray's private API, in one module: what a Ray upgrade must check.

Each touch point says why Ray's public API does not suffice. They were checked against
`CHECKED_AGAINST` (the version requirements.lock pins); importing this module under a Ray of
another release series (pyproject.toml allows 2.60.* only) raises, naming this file, so an
upgrade cannot change their behaviour silently. After checking each touch point against the
new Ray's source, update CHECKED_AGAINST, pyproject.toml and the lock together.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs
import ray
from ray.air.constants import EXPR_RESULT_FILE
from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
from ray.train.v2._internal.callbacks.placement_group_callback import (
    PlacementGroupCleanerCallback,
)
from ray.train.v2._internal.exceptions import WorkerGroupStartupTimeoutError
from ray.train.v2._internal.execution.callback import ControllerCallback
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
from ray.tune.search import BasicVariantGenerator

CHECKED_AGAINST = "2.60.0"


def release_series(version: str) -> str:
    """'2.60.0' -> '2.60': what pyproject.toml pins Ray to."""
    return ".".join(version.split(".")[:2])


if release_series(ray.__version__) != release_series(CHECKED_AGAINST):
    raise ImportError(
        f"GANime's uses of Ray's private API (orchestration/ray_internals.py) were checked "
        f"against Ray {CHECKED_AGAINST}, not the installed {ray.__version__}: install the pinned "
        f"stack (pip install -c requirements.lock -e .) or check each touch point there"
    )

__all__ = [
    "CHECKED_AGAINST",
    "ControllerCallback",
    "PopulationVariants",
    "ResumableASHA",
    "SynchronousPBT",
    "TrainerWithoutCleaner",
    "WorkerGroupStartupTimeoutError",
    "is_worker_startup_timeout",
    "release_series",
]

# Touch point 1: ControllerCallback, the base of callbacks that run in the Train controller.
# The public ray.train.UserCallback has after_report and after_exception only; a sweep trial
# needs `after_controller_start` to learn its controller's actor handle, so that stopping the
# trial can abort the controller (sweep/trainable.py, AnnounceController).


class TrainerWithoutCleaner(DataParallelTrainer):
    """Ray's data-parallel trainer without its PlacementGroupCleaner, nor its Ray Data
    callback (GANime's workers read files through tf.data; the callback starts a
    DatasetManager actor, one more process, for every run whether it has datasets or not).

    Touch point 2: the override of the private `_create_default_callbacks` and the two
    private callback classes it leaves out. RunConfig(callbacks=...) can only add callbacks,
    not remove Ray's defaults, and no setting turns the cleaner off.

    Ray 2.60 starts, beside every Train controller, a detached cleaner that removes the run's
    placement group once the state API no longer reports the controller; it takes a missing
    answer for a dead controller (`is_actor_alive`: "not found" is dead; a known flaw, see the
    review of ray-project/ray#65447). In our CI it removed live runs' groups several times:
    their workers were destroyed mid-epoch ("Destroying worker since its placement group was
    removed") while the controller ran. GANime's drivers end their runs' controllers themselves
    (a stopped sweep trial aborts its controller, which removes the group), and a group whose
    controller crashed is released when the driver's job ends: a late release, never a killed
    run."""

    LEFT_OUT = (PlacementGroupCleanerCallback, DatasetsCallback)

    def _create_default_callbacks(self) -> list[Any]:
        return [
            callback
            for callback in super()._create_default_callbacks()
            if not isinstance(callback, self.LEFT_OUT)
        ]


def is_worker_startup_timeout(error: Exception) -> bool:
    """Whether a Train run failed because its worker group never started (the cluster had no
    room for it).

    Touch point 3: WorkerGroupStartupTimeoutError. The public ray.train.ControllerError wraps it
    as `controller_failure`, but the class is not exported, and its message ("... timed out")
    does not name the setting that waits longer, which GANime's one-line reason does."""
    return isinstance(getattr(error, "controller_failure", None), WorkerGroupStartupTimeoutError)


class SynchronousPBT(PopulationBasedTraining):
    """Ray's synchronous PopulationBasedTraining, resumable after its driver was killed at any
    point, and keeping its trials' actors through each sync point.

    Touch point 4: the private per-trial state (`_trial_state`: last_train_time,
    last_perturbation_time) and `_next_perturbation_sync`. Tune keeps no scheduler state
    across a restore: `Tuner.restore` brings back the PBT built at the sweep's start, whose next
    sync point is the first interval, while the trials it is handed are further on. Ray's
    synchronous mode then perturbs at their epoch and sets its next sync point to that same
    epoch, after which `choose_trial_to_run` finds no trial below it and the sweep waits for
    ever (seen: a PBT sweep killed after its first exploit, resumed, hung with every trial
    PAUSED). A restored trial's state starts at the epoch it last reported instead, as if its
    perturbation there had been decided (it had been, if the driver got that far; if not,
    that one exploit is skipped), and the next sync point is the interval after it.

    Touch point 6, with PopulationVariants: the controller's actor cache
    (`_tune_controller._actor_cache`, reached through the wrapper Tune hands schedulers).
    Tune keeps a paused trial's actor only while the search goes on or a trial is staged to
    take it, and flushes cached actors beyond the staged trials' count at every step. At a
    sync point every trial is paused and none is staged until the next controller step, so
    Tune ended the actors there and each interval began by starting actors anew, one trial
    at a time (TensorFlow imported, the backbone built and traced again; measured: 202 s for
    a 4-trial, 4-epoch bench sweep on 2 cores, 6 actors started for 2 slots). The cache is
    sized for the whole population; Tune ends every cached actor when the sweep ends.

    Touch point 7: the experiment state saved (`_tune_controller.checkpoint`, forced) as soon
    as an exploit was decided (`_num_perturbations`). Tune saves it every few seconds, so a
    driver killed after a recipient had started from its donor's state, and recorded the
    exploit, could resume the recipient from its own checkpoint under its old values, with
    its lineage naming an exploit its training no longer followed."""

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        tune_controller._tune_controller._actor_cache.increase_max(trial.placement_group_factory)
        reached = (trial.last_result or {}).get(self._time_attr)
        if not reached:
            return
        state = self._trial_state[trial]
        state.last_train_time = reached
        state.last_perturbation_time = reached
        self._next_perturbation_sync = max(
            self._next_perturbation_sync, reached + self._perturbation_interval
        )

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        exploits = self._num_perturbations
        decision = super().on_trial_result(tune_controller, trial, result)
        if self._num_perturbations > exploits:
            tune_controller._tune_controller.checkpoint(force=True, wait=True)
        return decision


class PopulationVariants(BasicVariantGenerator):
    """Tune's variant generator for a PBT population: its search goes on while any trial it
    made is live, as PBT's explore keeps proposing values for them.

    Touch point 6, with SynchronousPBT: BasicVariantGenerator's private `_live_trials`, and
    Tune's caching rule (`TuneController._maybe_cache_trial_actor`): once the search is over,
    a paused trial's actor is cached only if a trial is staged, which at a sync point none
    is. The whole sweep still ends when every trial has (TuneController.is_finished asks
    this too)."""

    def is_finished(self) -> bool:
        return super().is_finished() and not self._live_trials


class ResumableASHA(ASHAScheduler):
    """Ray's AsyncHyperBandScheduler, whose rungs survive a killed driver.

    Touch point 5: the private `_trial_info` (the bracket of each trial), `_Bracket.on_result`
    and `_time_attr`/`_metric`/`_metric_op`. Tune keeps no scheduler state across a restore
    (see SynchronousPBT): the ASHA `Tuner.restore` brings back has empty rungs, so a resumed
    sweep compared its trials only with results reported since the resume, and let through
    what the uninterrupted sweep stopped (seen: a trial that reached rung 1 before the
    interrupt was recorded at rung 2 after it, and the next trial, behind it at rung 1, ran
    on to rung 2). A restored trial's reported results, in the result.json Tune synced with
    the experiment state it restores, are recorded in its bracket's rungs as they were first
    reported; the decisions they were taken with stand."""

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        if not trial.has_reported_at_least_once:  # a new trial, or one that never reported
            return
        bracket = self._trial_info[trial.trial_id]
        for result in reported_results(trial):
            if self._time_attr in result and self._metric in result:
                bracket.on_result(
                    trial, result[self._time_attr], self._metric_op * result[self._metric]
                )


def reported_results(trial: Any) -> list[dict[str, Any]]:
    """Every result `trial` reported, in order, from its result.json in the sweep's storage
    (written by Tune's JsonLoggerCallback; none if the trial's folder was never synced)."""
    storage = trial.storage
    path = f"{trial.path}/{EXPR_RESULT_FILE}"
    info = storage.storage_filesystem.get_file_info(path)
    if info.type != pyarrow.fs.FileType.File:
        return []
    with storage.storage_filesystem.open_input_stream(path) as stream:
        text = stream.readall().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
