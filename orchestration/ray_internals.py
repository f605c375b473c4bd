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
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
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
    "CHECKPOINTS_KEPT",
    "ControllerCallback",
    "PopulationVariants",
    "ResumableASHA",
    "ResumableFIFO",
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


CHECKPOINTS_KEPT = 3  # Tune checkpoints per trial: see StateSavedBeforeCheckpointsGo


class StateSavedBeforeCheckpointsGo:
    """A Tune scheduler (a mixin, first among its bases) under which the experiment state in
    storage never names a trial checkpoint Tune has deleted.

    Touch point 8: the controller's `checkpoint` (`_tune_controller`, reached through the
    wrapper Tune hands schedulers; touch point 7 forces it too), and the order Tune 2.60 takes
    a result in: scheduler decision, then the step's checkpoint saved, whose registration
    deletes the trial's oldest beyond `num_to_keep` at once. Tune saves the experiment state
    (which checkpoint each trial resumes from) only every ten seconds or so and after every
    `num_to_keep` checkpoints of a trial, in the background: a driver killed in between
    resumed a trial from a checkpoint it had deleted, and the trial failed ("Could not
    recover from checkpoint as it does not exist on storage anymore"; seen in CI: a trial
    that had completed was a failure on the next resume). Saving the state, and waiting for
    it, before each result's decision keeps storage at most one checkpoint behind; a trial's
    last result (Tune stops it without asking the scheduler) adds its own and one earlier
    one before the next save, so CHECKPOINTS_KEPT is three (a PBT donor's checkpoint also
    outlives the exploits that copy it: Ray warns below three).
    A save on local storage took 12 ms on average, 22 ms at most (6 saves of a 4-trial tiny
    sweep, 2-core AMD EPYC, another test running beside it)."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        tune_controller._tune_controller.checkpoint(force=True, wait=True)
        return super().on_trial_result(tune_controller, trial, result)


class ResumableFIFO(StateSavedBeforeCheckpointsGo, FIFOScheduler):
    """Tune's FIFO scheduler (a sweep without one), resumable like the others."""


class SynchronousPBT(StateSavedBeforeCheckpointsGo, PopulationBasedTraining):
    """Ray's synchronous PopulationBasedTraining, resumable after its driver was killed at any
    point, and keeping its trials' actors through each sync point.

    Touch point 4: the private per-trial state (`_trial_state`: last_train_time,
    last_perturbation_time) and `_next_perturbation_sync`. Tune keeps no scheduler state
    across a restore: `Tuner.restore` brings back the PBT built at the sweep's start, whose next
    sync point is the first interval, while the trials it is handed are further on. Ray's
    synchronous mode then perturbs at their epoch and sets its next sync point to that same
    epoch, after which `choose_trial_to_run` finds no trial below it and the sweep waits for
    ever (seen: a PBT sweep killed after its first exploit, resumed, hung with every trial
    PAUSED). A restored trial's state starts at the epoch it last reported instead (for a
    recipient of an exploit, whose result Ray's exploit clears, the epoch of the donor's
    state it holds), as if its perturbation there had been decided (it had been, if the
    driver got that far; if not, that one exploit is skipped), and the next sync point is
    the interval after it.

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
    as an exploit was decided (`_num_perturbations`), every trial's state serialized anew for
    it (`run_metadata.invalidate_cache`, `_mark_trial_to_checkpoint`). Ray's exploit gives the
    recipient its explored values and the donor's checkpoint (its checkpoint manager's private
    `_latest_checkpoint_result`) without telling Tune, which saves the JSON it cached of a
    trial until the trial's next result or status change: a recipient paused at the sync
    point before the donor's result decided the exploit was saved under its old values and
    its own checkpoint (seen in CI, a two-worker sweep), and the run metadata named no
    checkpoint until the recipient reported again. A driver killed in between
    (after the recipient had started from its donor's state and recorded the exploit)
    resumed it from scratch under the explored values; its lineage named an exploit its
    training no longer followed, and an epoch went unlogged (seen in CI: the recipient
    trained epoch 1 again, was exploited at epoch 2 before it trained epoch 2, and its run
    held epochs 1 and 3)."""

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        tune_controller._tune_controller._actor_cache.increase_max(trial.placement_group_factory)
        reached = (trial.last_result or {}).get(self._time_attr)
        if not reached:  # an exploit's recipient: its result cleared, the donor's state held
            held = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
            reached = (held.metrics if held else {}).get(self._time_attr)
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
            controller = tune_controller._tune_controller
            for each in tune_controller.get_trials():
                each.run_metadata.invalidate_cache()
                controller._mark_trial_to_checkpoint(each)
            controller.checkpoint(force=True, wait=True)
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


class ResumableASHA(StateSavedBeforeCheckpointsGo, ASHAScheduler):
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
