"""One sweep trial, as Tune runs it.

A 1-worker trial trains inside its Tune actor (`InProcessTrial`, the local runner): Tune reuses
the actor for the next trial (`reset_config`), so TensorFlow is imported once per actor and the
InceptionV3 backbone is built and traced once per actor. A trial of more workers drives a Ray
Train run from its actor (`RayTrainTrial`), whose controller forwards each evaluated epoch to
it. Both open the trial's MLflow child run, record it with the same sink, report the same
metrics, and resume the same way (`ganime sweep --resume`: a trial continues from its newest
checkpoint, in its run).

This module is imported by the sweep's driver, which never imports TensorFlow: the trial's
actor imports it in `setup`, the one lazy seam here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import ray
from ray import tune
from ray.train import TrainingFailedError, UserCallback
from ray.util.queue import Empty, Queue

from ganime_core.errors import GanimeError, last_line
from ganime_core.metrics import names
from orchestration.ray_internals import ControllerCallback
from orchestration.sweep.lineage import (
    CheckpointOwner,
    Exploit,
    TrialRecord,
    load_trial_record,
    save_trial_record,
)
from orchestration.sweep.spec import Sweep
from orchestration.sweep.summary import RESULT_RUN_ID, short_value
from orchestration.tracking.sweeps import log_exploit, log_schedule_values, open_trial_run
from orchestration.training.ray_train import (
    CHECKPOINT_DIGEST,
    PAUSED,
    TRAIN_DRIVER_MEMORY,
    InheritedState,
    Scaling,
    checkpoint_uri,
    failure_reason,
    make_trainer,
    reported_metrics,
    run_best,
)

log = logging.getLogger(__name__)

BACKBONE_BUILDS = "actor_backbone_builds"  # InceptionV3s this trial's actor has built so far
# The actor's resident memory after the step; the benchmark reads it. clear_session between
# reused trials does not give everything back: measured +50 MB a trial at 64 px
# (bench/sweep_overhead.py), so an actor that grew this much since its first trial is replaced.
ACTOR_RSS_MB = "actor_rss_mb"
ACTOR_GROWTH_LIMIT_MB = 1024


def rss_mb() -> float:
    """This process's resident memory, MB."""
    return psutil.Process().memory_info().rss / 2**20


# What a Ray Train trial's inbox carries, in the order it happens: from its Train controller
# (its handle, each evaluated epoch) and from its fit() thread (how the run ended).
@dataclass(frozen=True)
class ControllerStarted:
    controller: Any  # the Train controller's actor handle, so the trial can abort it


@dataclass(frozen=True)
class EpochEvaluated:
    report: dict[str, Any]  # rank 0's report, once MLflow holds the epoch
    checkpoint: str  # where Ray Train persisted the epoch's checkpoint (checkpoint_uri)


@dataclass(frozen=True)
class FitFailed:
    reason: str  # one line


@dataclass(frozen=True)
class FitFinished:
    metrics: dict[str, Any]  # fit()'s result: the last epoch's report


InboxMessage = ControllerStarted | EpochEvaluated | FitFailed | FitFinished
CONTROLLER_WAIT_S = 60  # how long a stopped trial waits for its controller to start or end


class TrialFailed(GanimeError):
    """A trial failed; the message is its reason in one line."""


def trial_name(trial: Any) -> str:
    """Tune's trial name, 't03-7fa96938': Tune's search generator tags each trial with its
    creation number (kept across a resume), ids alone are random."""
    number = trial.experiment_tag.partition("_")[0]
    return f"t{int(number) if number.isdigit() else 0:02d}-{trial.trial_id}"


def trial_dirname(trial: Any) -> str:
    """The trial's folder, named like the trial (Tune's default folds every param into it):
    its number and id can be read back from any result's path."""
    return trial_name(trial)


def trial_of_folder(folder: str) -> tuple[int, str]:
    """(number, id) of the trial whose folder is `folder` ('t03-7fa96938')."""
    return trial_number(folder), folder.partition("-")[2]


def trial_number(name: str) -> int:
    """The creation number in a name made by trial_name(): 't03-7fa96938' -> 3."""
    head = name.partition("-")[0][1:]
    return int(head) if head.isdigit() else 0


def trial_run_name(sweep: str, number: int, params: dict[str, Any]) -> str:
    """e.g. 'quickstart-t03 lambda_tv=2.1e-05 lambda_l1=97.3 tv_norm=l2'."""
    shown = " ".join(
        f"{key.rpartition('.')[2]}={short_value(value)}" for key, value in params.items()
    )
    return f"{sweep}-t{number:02d} {shown}"


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares, from the driver (it crosses to each trial's actor;
    Tune hands a trial only its searched values besides)."""

    sweep: Sweep
    storage: str  # the sweep's storage root: trials' checkpoints and Ray Train runs under it
    tracking_uri: str  # reachable from the workers
    parent_run_id: str  # the sweep's MLflow run


def trial_job(context: TrialContext, number: int, params: dict[str, Any]) -> str:
    """The job a trial's MLflow run is found by again: its number and searched values, not
    Tune's random id. A driver killed before Tune saved a trial it had started gets that trial
    again on resume (its searcher's state is restored: same number, same values) under a new
    id; it must continue the same run."""
    values = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{context.storage}/{context.sweep.name}/trials/t{number:02d}-{values}"


def open_child_run(
    context: TrialContext,
    config: Any,
    trial_id: str,
    name: str,
    params: dict[str, Any],
    job: str | None = None,
) -> str:
    """The trial's MLflow run: found by `job` (a PBT trial's, from its record: its values have
    changed since it opened its run), else by its number and values."""
    number = trial_number(name)
    return open_trial_run(
        config,
        context.tracking_uri,
        job=job or trial_job(context, number, params),
        run_name=trial_run_name(context.sweep.name, number, params),
        parent_run_id=context.parent_run_id,
        sweep=context.sweep.name,
        trial_id=trial_id,
        trial_number=number,
    )


def record_exploit(
    context: TrialContext,
    record: TrialRecord,
    donor: CheckpointOwner,
    params: dict[str, Any],
    run_id: str,
    digest: str,
) -> TrialRecord:
    """The exploit a trial just took (`donor`'s state, whose digest is `digest`, under the
    explored `params`) on its record and its MLflow run; once: a trial restored again from
    the same donor's state took no second one. The record is saved first and the run then
    given the whole lineage again, so a trial killed between the two completes its run's
    lineage when it is restored."""
    taken = record.exploits
    if not taken or (taken[-1].epoch, taken[-1].donor_trial_id) != (donor.epoch, donor.trial_id):
        exploit = Exploit(
            epoch=donor.epoch,
            donor=donor.trial,
            donor_trial_id=donor.trial_id,
            donor_run_id=donor.run_id,
            donor_values=donor.params,
            before=record.params,
            after=params,
            digest=digest,
        )
        record = dataclasses.replace(record, params=params, exploits=(*taken, exploit))
        save_trial_record(context.storage, context.sweep.name, record)
    log_exploit(
        context.tracking_uri,
        run_id,
        lineage=[dataclasses.asdict(e) for e in record.exploits],
        schedule=record.schedule(),
    )
    return record


def keep_record(
    context: TrialContext,
    record: TrialRecord,
    run_id: str,
    *,
    params: dict[str, Any],
    best: dict[str, Any] | None,
    epoch: int,
    digest: str,
) -> TrialRecord:
    """A PBT trial's record after a step (its values, best and the state it saved), and its
    numeric values as `schedule.*` metrics at the epoch."""
    record = dataclasses.replace(
        record,
        run_id=run_id,
        params=params,
        best=best,
        digests={**record.digests, str(epoch): digest},
    )
    save_trial_record(context.storage, context.sweep.name, record)
    numeric = {k: v for k, v in params.items() if isinstance(v, int | float)}
    if numeric:
        log_schedule_values(context.tracking_uri, run_id, numeric, epoch)
    return record


class InProcessTrial(tune.Trainable):
    """A 1-worker trial trained in this actor. Each `step` trains up to the next evaluated epoch
    (the scheduler's decision epochs and the last) and returns its metrics; the Tune checkpoint
    after it holds the newest epoch checkpoint, so a restored trial continues where it was.

    Under PBT the checkpoint Tune restores may be another trial's (an exploit): the trial then
    inherits that state under its explored values (ganime_core.checkpoint.Inheritance), in
    its own MLflow run, where the exploit is recorded (lineage.py)."""

    def setup(self, config: dict[str, Any], context: TrialContext) -> None:
        # The lazy seam: the local runner (and with it TensorFlow) is imported here, in the
        # trial's actor, once per actor; the driver imports this module without it.
        from orchestration.training import local

        self.local = local
        self.context = context  # reset_config gets only the next trial's params: keep it
        self.sweep = context.sweep
        self.pbt = self.sweep.config.scheduler == "pbt"
        self.process = local.TrialProcess(self.sweep.config.trial.cpus_per_worker)
        self.scratch = Path(tempfile.mkdtemp(prefix="ganime-trial-"))
        self.training: Any = None  # the LocalTraining of the current trial, begun at its step
        self.restored: Path | None = None
        self.owner: CheckpointOwner | None = None  # of the checkpoint restored, if any
        self.record: TrialRecord | None = None  # a PBT trial's own (lineage.py)
        self.last_result: dict[str, Any] = {}
        self.first_trial_rss_mb = 0.0  # after its first step: the base its growth is measured on

    def step(self) -> dict[str, Any]:
        if self.training is None:
            self._begin()
        try:
            report = self.training.until_evaluation()
        except GanimeError as exc:  # a NaN loss, a data error: the trial fails with that line
            self._end()
            raise TrialFailed(str(exc)) from None
        if report is None:  # restored after it had finished: nothing left to train
            return {**self.last_result, "done": True}
        result = {
            **self.training.metrics(),
            RESULT_RUN_ID: self.training.sink.run_id,
            # With Tune's `pid`, shows what the actor's trials share (the benchmark reads it).
            BACKBONE_BUILDS: self.process.evaluations.backbone_builds,
            ACTOR_RSS_MB: rss_mb(),
        }
        self.first_trial_rss_mb = self.first_trial_rss_mb or result[ACTOR_RSS_MB]
        if self.training.finished:
            result["done"] = True
        self.last_result = result
        if self.pbt:
            self._keep_record(report.epoch)
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> str:
        folder = Path(checkpoint_dir)
        latest = self.training.run.checkpointer.latest() if self.training else self.restored
        if latest is not None:
            shutil.copytree(latest, folder / latest.name, copy_function=_link)
        if self.training is None and self.owner is not None:
            owner = self.owner  # saved again before it trained: the state it was given
        else:
            owner = CheckpointOwner(
                trial_id=self.trial_id,
                trial=trial_number(self.trial_name),
                run_id=self.last_result.get(RESULT_RUN_ID, ""),
                epoch=self.training.run.epochs_done if self.training else 0,
                params=dict(self.config),
                digest=self.training.run.checkpointer.last_digest if self.training else "",
                last_result=self.last_result,
            )
        owner.write(folder)
        return checkpoint_dir

    def load_checkpoint(self, checkpoint: str) -> None:
        folder = Path(checkpoint)
        found = sorted(folder.glob("epoch-*"))
        self.restored = found[-1] if found else None
        self.owner = CheckpointOwner.read(folder)
        mine = self.owner is None or self.owner.trial_id == self.trial_id
        self.last_result = self.owner.last_result if self.owner and mine else {}
        self._end()  # a trial restored in place after a failure begins again from here

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """The next trial in this actor: TensorFlow, the backbone and the data stay; the
        previous trial's networks and graphs go. An actor whose memory grew past
        ACTOR_GROWTH_LIMIT_MB since its first trial declines, and Tune starts a fresh one."""
        self._end()
        self.restored, self.owner, self.record, self.last_result = None, None, None, {}
        self.process.next_run()
        grown = rss_mb() - self.first_trial_rss_mb
        return not (self.first_trial_rss_mb and grown > ACTOR_GROWTH_LIMIT_MB)

    def cleanup(self) -> None:
        self._end()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _begin(self) -> None:
        params = dict(self.config)
        config = self.sweep.trial_config(params).replace(
            {"train.output_dir": self.scratch / self.trial_id}
        )
        storage, sweep = self.context.storage, self.sweep.name
        self.record = load_trial_record(storage, sweep, self.trial_id) if self.pbt else None
        job = self.record.job if self.record else None
        run_id = open_child_run(self.context, config, self.trial_id, self.trial_name, params, job)
        donor = self.owner if self.owner and self.owner.trial_id != self.trial_id else None
        inherit = None
        if donor is not None and self.restored is not None:
            inherit = self.local.inheritance(
                self.restored, self.record.best if self.record else None
            )
        self.training = self.local.LocalTraining(
            config,
            self.context.tracking_uri,
            run_id,
            cache=self.process.evaluations,
            progress=False,
            resume_from=None if inherit else self.restored,
            inherit=inherit,
        )
        if self.pbt and self.record is None:
            number = trial_number(self.trial_name)
            self.record = TrialRecord(
                self.trial_id,
                number,
                trial_job(self.context, number, params),
                run_id,
                params,
                None,
                started_with=params,
            )
        if inherit is not None:
            self.record = record_exploit(
                self.context, self.record, donor, params, run_id, self.training.run.start_digest
            )

    def _keep_record(self, epoch: int) -> None:
        training = self.training
        best = training.run.best
        self.record = keep_record(
            self.context,
            self.record,
            training.sink.run_id,
            params=dict(self.config),
            best=dataclasses.asdict(best) if best else None,
            epoch=epoch,
            digest=training.run.checkpointer.last_digest,
        )

    def _end(self) -> None:
        """Stop recording the current trial (the driver writes its outcome) and drop it."""
        if self.training is not None:
            self.training.close(None)
            shutil.rmtree(self.training.config.run_dir, ignore_errors=True)
            self.training = None


def _link(source: str, target: str) -> None:
    """Hard-link a checkpoint file into Tune's checkpoint folder (it copies it to storage from
    there); copy where the two are on different file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class RayTrainTrial(tune.Trainable):
    """A trial of `trial.workers` > 1: this actor drives the trial's Ray Train V2 run (fit() in a
    thread) and returns each evaluated epoch MLflow holds as a step. A restarted trial finds its
    MLflow run by its job (trial_job), and Ray Train resumes its newest checkpoint from storage.

    Why a class: Tune ends a trial's actor when ASHA stops it or the sweep is interrupted, and
    with the actor the Train controller it owns, before that controller removed its workers'
    placement group; the group would then hold its CPUs until the sweep's driver ends (Ray
    Train's own cleaner is left out, see ray_internals.TrainerWithoutCleaner). `cleanup` aborts the
    controller first, which removes the group, so a stopped trial gives its CPUs back at once."""

    def setup(self, config: dict[str, Any], context: TrialContext) -> None:
        self.context = context
        self.sweep = context.sweep
        self.pbt = self.sweep.config.scheduler == "pbt"
        # The controller's reports and handle, and fit()'s outcome, in the order they happen.
        self.inbox = Queue(actor_options={"num_cpus": 0})
        # A token per worker for each next step: the workers wait for it after an evaluated
        # epoch, so the run trains only between Tune's steps (see make_trainer).
        self.pace = Queue(actor_options={"num_cpus": 0})
        self.fit_thread: threading.Thread | None = None
        self.controller: Any = None
        self.run_id = ""
        self.last_result: dict[str, Any] = {}
        self.last_checkpoint = ""  # the newest epoch checkpoint Ray Train persisted
        self.last_digest = ""  # its state digest
        self.owner: CheckpointOwner | None = None  # of the Tune checkpoint restored, if any
        self.record: TrialRecord | None = None  # a PBT trial's own (lineage.py)

    def step(self) -> dict[str, Any]:
        if self.fit_thread is None:
            self._begin()
        elif self.last_result:
            self.pace.put_nowait_batch([True] * self.sweep.config.trial.workers)
        while True:
            message: InboxMessage = self.inbox.get()
            match message:
                case ControllerStarted(controller):
                    self.controller = controller
                case EpochEvaluated(report, checkpoint):
                    self._evaluated(report, checkpoint)
                    return self.last_result
                case FitFailed(reason):
                    raise TrialFailed(reason)
                case FitFinished(metrics):
                    # The last epoch comes from fit()'s result: the run has released its workers.
                    if self.sweep.metric_key in metrics:
                        self._evaluated(metrics, self.last_checkpoint)
                    return {**self.last_result, "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> str:
        """Ray Train persists the run's own checkpoints; Tune's says which one is newest."""
        CheckpointOwner(
            trial_id=self.trial_id,
            trial=trial_number(self.trial_name),
            run_id=self.run_id,
            epoch=int(self.last_result.get(names.EPOCH, 0)),
            params=dict(self.config),
            digest=self.last_digest,
            last_result=self.last_result,
            train_checkpoint=self.last_checkpoint,
        ).write(Path(checkpoint_dir))
        return checkpoint_dir

    def load_checkpoint(self, checkpoint: str) -> None:
        self.owner = CheckpointOwner.read(Path(checkpoint))
        if self.owner is not None and self.owner.trial_id == self.trial_id:
            self.last_result = self.owner.last_result
            self.last_checkpoint, self.last_digest = self.owner.train_checkpoint, self.owner.digest

    def cleanup(self) -> None:
        if self.fit_thread is not None and self.fit_thread.is_alive():
            self._abort()
        self.inbox.shutdown(force=True)
        self.pace.shutdown(force=True)

    def _begin(self) -> None:
        params = dict(self.config)
        config = self.sweep.trial_config(params)
        storage, sweep = self.context.storage, self.sweep.name
        self.record = load_trial_record(storage, sweep, self.trial_id) if self.pbt else None
        job = self.record.job if self.record else None
        self.run_id = open_child_run(
            self.context, config, self.trial_id, self.trial_name, params, job
        )
        donor = self.owner if self.owner and self.owner.trial_id != self.trial_id else None
        inherit = None
        if donor is not None:
            inherit = InheritedState(
                donor.train_checkpoint, donor.epoch, self.record.best if self.record else None
            )
        trial = self.sweep.config.trial
        trainer = make_trainer(
            config,
            Scaling(trial.workers, trial.cpus_per_worker, trial.gpus_per_worker),
            storage=f"{storage}/{sweep}/trials",
            name=self.trial_id,
            tracking_uri=self.context.tracking_uri,
            run_id=self.run_id,
            max_failures=trial.max_failures,
            controller_failure_limit=0,  # no workers in time: the trial fails, the sweep goes on
            callbacks=[
                AnnounceController(self.inbox),
                ForwardEvaluations(self.inbox),
            ],
            pace=self.pace,
            inherit=inherit,
        )
        if self.pbt and self.record is None:
            number = trial_number(self.trial_name)
            job = trial_job(self.context, number, params)
            self.record = TrialRecord(
                self.trial_id, number, job, self.run_id, params, None, started_with=params
            )
        if donor is not None:
            # The workers check the state they inherit against the donor's digest, bit for
            # bit, before they train.
            self.record = record_exploit(
                self.context, self.record, donor, params, self.run_id, donor.digest
            )
        self.fit_thread = threading.Thread(
            target=self._fit, args=(trainer,), name="ganime-ray-train-fit", daemon=True
        )
        self.fit_thread.start()

    def _evaluated(self, report: dict[str, Any], checkpoint: str) -> None:
        self.last_result = self._result(report)
        self.last_digest = report.get(CHECKPOINT_DIGEST, self.last_digest)
        self.last_checkpoint = checkpoint or self.last_checkpoint
        if self.pbt:
            epoch = int(report[names.EPOCH])
            self.record = keep_record(
                self.context,
                self.record,
                self.run_id,
                params=dict(self.config),
                best=run_best(report),
                epoch=epoch,
                digest=self.last_digest,
            )

    def _fit(self, trainer: Any) -> None:
        try:
            result = trainer.fit()
        except TrainingFailedError as exc:
            self.inbox.put(FitFailed(failure_reason(exc)))
        except Exception as exc:  # the controller aborted or died: say why, in one line
            self.inbox.put(FitFailed(last_line(str(exc)) or type(exc).__name__))
        else:
            self.inbox.put(FitFinished(result.metrics))

    def _abort(self) -> None:
        """Abort the Train run (its workers and their placement group go with it) and wait
        for fit() to return."""
        if self.controller is None:  # stopped before the controller started: wait for it
            deadline = time.monotonic() + CONTROLLER_WAIT_S
            while self.controller is None and time.monotonic() < deadline:
                try:
                    message: InboxMessage = self.inbox.get(timeout=1)
                except Empty:
                    continue
                if isinstance(message, ControllerStarted):
                    self.controller = message.controller
                elif isinstance(message, FitFailed | FitFinished):
                    return
        if self.controller is not None:
            # abort ends the controller's process: an actor error is its expected answer.
            with contextlib.suppress(ray.exceptions.RayActorError):
                ray.get(self.controller.abort.remote())
        self.fit_thread.join(timeout=CONTROLLER_WAIT_S)

    def _result(self, report: dict[str, Any]) -> dict[str, Any]:
        """What Tune gets of a report: its metrics and the trial's MLflow run (as an
        in-process trial's result)."""
        return {**reported_metrics(report), RESULT_RUN_ID: self.run_id}


class AnnounceController(ControllerCallback):
    """Runs in the Train controller: sends the trial its handle, so the trial can abort it."""

    def __init__(self, inbox: Queue) -> None:
        self.inbox = inbox

    def after_controller_start(self, train_run_context: Any) -> None:
        self.inbox.put(ControllerStarted(ray.get_runtime_context().current_actor))


class ForwardEvaluations(UserCallback):
    """Runs in the Train controller: forwards rank 0's report of an evaluated epoch the workers
    now wait after (PAUSED), once MLflow holds the epoch: ASHA stops trials on the metric, so a
    stopped trial never loses the epoch it was judged on. The last epoch comes from fit()."""

    def __init__(self, inbox: Queue) -> None:
        self.inbox = inbox
        self.checkpoint = ""  # the newest epoch checkpoint Ray Train persisted

    def after_report(self, run_context: Any, metrics: list[dict], checkpoint: Any) -> None:
        if checkpoint is not None:  # the epoch's first report; its second pauses the workers
            self.checkpoint = checkpoint_uri(checkpoint)
        report = metrics[0] if metrics else {}
        if report.get(PAUSED):
            self.inbox.put(EpochEvaluated(report, self.checkpoint))


def trainable(context: TrialContext) -> Any:
    """The Tune trainable of the sweep's trials, with the resources each asks for."""
    trial = context.sweep.config.trial
    if trial.workers == 1:
        resources = {"cpu": trial.cpus_per_worker, "gpu": trial.gpus_per_worker}
        return tune.with_resources(tune.with_parameters(InProcessTrial, context=context), resources)
    return tune.with_resources(
        tune.with_parameters(RayTrainTrial, context=context), {"memory": TRAIN_DRIVER_MEMORY}
    )
