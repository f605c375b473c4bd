"""One sweep trial, as Tune runs it.

A 1-worker trial trains inside its Tune actor (`InProcessTrial`, the local runner): Tune reuses
the actor for the next trial (`reset_config`), so TensorFlow is imported once per actor and the
InceptionV3 backbone is built and traced once per actor. A trial of more workers is a Ray Train
run (`ray_train_trial`) whose workers forward each evaluated epoch to Tune. Both open the
trial's MLflow child run, record it with the same sink, report the same metrics, and resume the
same way (`ganime sweep --resume`: a trial continues from its newest checkpoint, in its run).

This module is imported by the sweep's driver, which never imports TensorFlow: the trial's
actor imports it in `setup`, the one lazy seam here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ray import tune
from ray.train import TrainingFailedError
from ray.tune.integration.ray_train import TuneReportCallback

from ganime_core.errors import GanimeError
from ganime_core.metrics import names
from orchestration.sweep.spec import Sweep
from orchestration.sweep.summary import RUN_ID, short_value
from orchestration.tracking.sweeps import open_trial_run
from orchestration.training.ray_train import (
    TRACKED,
    Scaling,
    failure_reason,
    make_trainer,
)

log = logging.getLogger(__name__)

LAST_RESULT_FILE = "tune-result.json"
BACKBONE_BUILDS = "actor_backbone_builds"  # InceptionV3s this trial's actor has built so far
# A Ray Train trial's trainable only drives its Train run: it takes the memory its process uses
# and no CPU, so the trial's CPUs and GPUs are exactly its workers' (Tune refuses an empty
# request).
TRAIN_DRIVER_MEMORY = 512 * 1024**2


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


def trial_job(context: dict[str, Any], number: int, params: dict[str, Any]) -> str:
    """The job a trial's MLflow run is found by again: its number and searched values, not
    Tune's random id. A driver killed before Tune saved a trial it had started gets that trial
    again on resume (its searcher's state is restored: same number, same values) under a new
    id; it must continue the same run."""
    values = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{context['storage']}/{context['sweep']['name']}/trials/t{number:02d}-{values}"


def open_child_run(
    context: dict[str, Any],
    sweep: Sweep,
    config: Any,
    trial_id: str,
    name: str,
    params: dict[str, Any],
) -> str:
    number = trial_number(name)
    return open_trial_run(
        config,
        context["tracking_uri"],
        job=trial_job(context, number, params),
        run_name=trial_run_name(sweep.name, number, params),
        parent_run_id=context["parent_run_id"],
        sweep=sweep.name,
        trial_id=trial_id,
        trial_number=number,
    )


class ReportEvaluationsToTune(TuneReportCallback):
    """Runs in a Ray Train trial's controller. Forwards rank 0's report to Tune only once MLflow
    holds the epoch (the TRACKED report), and only evaluated epochs: ASHA stops trials on the
    metric, so a stopped trial never loses the epoch it was judged on. `extra` (the trial's
    MLflow run) goes with every result, as an in-process trial's does.

    The last epoch is held back: Tune ends a trial's actor, and the Train controller it owns,
    at its last result, before the controller had removed its workers' placement group.
    `ray_train_trial` reports it once the Train run has shut down."""

    def __init__(self, metric_key: str, last_epoch: int, extra: dict[str, Any]) -> None:
        super().__init__()
        self.metric_key = metric_key
        self.last_epoch = last_epoch
        self.extra = extra

    def after_report(self, run_context: Any, metrics: list[dict], checkpoint: Any) -> None:
        report = metrics[0] if metrics else {}
        evaluated = report.get(TRACKED) and self.metric_key in report
        if evaluated and report.get(names.EPOCH, 0) < self.last_epoch:
            super().after_report(run_context, [self.result(m) for m in metrics], None)

    def result(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """What Tune gets of a report: its metrics and the trial's MLflow run."""
        return {**{k: v for k, v in metrics.items() if k != TRACKED}, **self.extra}


class InProcessTrial(tune.Trainable):
    """A 1-worker trial trained in this actor. Each `step` trains up to the next evaluated epoch
    (ASHA's rungs and the last) and returns its metrics; the Tune checkpoint after it holds the
    newest epoch checkpoint, so a restored trial continues where it was."""

    def setup(self, config: dict[str, Any], context: dict[str, Any]) -> None:
        # The lazy seam: the local runner (and with it TensorFlow) is imported here, in the
        # trial's actor, once per actor; the driver imports this module without it.
        from orchestration.training import local

        self.local = local
        self.context = context  # reset_config gets only the next trial's params: keep it
        self.sweep = Sweep.from_record(context)
        self.process = local.TrialProcess(self.sweep.config.trial.cpus_per_worker)
        self.scratch = Path(tempfile.mkdtemp(prefix="ganime-trial-"))
        self.training: Any = None  # the LocalTraining of the current trial, begun at its step
        self.restored: Path | None = None
        self.last_result: dict[str, Any] = {}

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
            RUN_ID: self.training.sink.run_id,
            # With Tune's `pid`, shows what the actor's trials share (the benchmark reads it).
            BACKBONE_BUILDS: self.process.evaluations.backbone_builds,
        }
        if self.training.finished:
            result["done"] = True
        self.last_result = result
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> str:
        latest = self.training.run.checkpointer.latest() if self.training else None
        if latest is not None:
            shutil.copytree(latest, Path(checkpoint_dir) / latest.name, copy_function=_link)
        (Path(checkpoint_dir) / LAST_RESULT_FILE).write_text(json.dumps(self.last_result))
        return checkpoint_dir

    def load_checkpoint(self, checkpoint: str) -> None:
        folder = Path(checkpoint)
        found = sorted(folder.glob("epoch-*"))
        self.restored = found[-1] if found else None
        result_file = folder / LAST_RESULT_FILE
        self.last_result = json.loads(result_file.read_text()) if result_file.is_file() else {}
        self._end()  # a trial restored in place after a failure begins again from here

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """The next trial in this actor: TensorFlow, the backbone and the data stay; the
        previous trial's networks and graphs go."""
        self._end()
        self.restored, self.last_result = None, {}
        self.process.next_run()
        return True

    def cleanup(self) -> None:
        self._end()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _begin(self) -> None:
        params = dict(self.config)
        config = self.sweep.trial_config(params).replace(
            {"train.output_dir": self.scratch / self.trial_id}
        )
        run_id = open_child_run(
            self.context, self.sweep, config, self.trial_id, self.trial_name, params
        )
        self.training = self.local.LocalTraining(
            config,
            self.context["tracking_uri"],
            run_id,
            cache=self.process.evaluations,
            progress=False,
            resume_from=self.restored,
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


def ray_train_trial(params: dict[str, Any], context: dict[str, Any]) -> None:
    """A trial of `trial.workers` > 1: open its child run and drive its Ray Train run (the Train
    V2 pattern: a Tune function trainable that fits a trainer). A restarted trial finds its
    MLflow run by its job (trial_job), and Ray Train resumes its newest checkpoint."""
    sweep = Sweep.from_record(context)
    tune_context = tune.get_context()
    trial_id, name = tune_context.get_trial_id(), tune_context.get_trial_name()
    config = sweep.trial_config(params)
    run_id = open_child_run(context, sweep, config, trial_id, name, params)
    trial = sweep.config.trial
    reporter = ReportEvaluationsToTune(sweep.metric_key, config.train.epochs, {RUN_ID: run_id})
    trainer = make_trainer(
        config,
        Scaling(trial.workers, trial.cpus_per_worker, trial.gpus_per_worker),
        storage=f"{context['storage']}/{sweep.name}/trials",
        name=trial_id,
        tracking_uri=context["tracking_uri"],
        run_id=run_id,
        max_failures=trial.max_failures,
        controller_failure_limit=0,  # no workers in time: the trial fails, the sweep goes on
        callbacks=[reporter],
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        raise TrialFailed(failure_reason(exc)) from None
    # The last epoch, now that the Train run has released its workers (see the callback).
    if sweep.metric_key in result.metrics:
        tune.report(reporter.result(result.metrics))


def trainable(sweep: Sweep, context: dict[str, Any]) -> Any:
    """The Tune trainable of `sweep`'s trials, with the resources each asks for."""
    trial = sweep.config.trial
    if trial.workers == 1:
        resources = {"cpu": trial.cpus_per_worker, "gpu": trial.gpus_per_worker}
        return tune.with_resources(tune.with_parameters(InProcessTrial, context=context), resources)
    return tune.with_resources(
        tune.with_parameters(ray_train_trial, context=context), {"memory": TRAIN_DRIVER_MEMORY}
    )
