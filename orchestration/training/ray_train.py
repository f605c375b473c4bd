"""Data-parallel training on Ray Train: the driver side and the per-worker loop.

The driver validates the config, opens the MLflow run, connects to Ray and starts a Train V2
data-parallel trainer with a TensorFlow backend (training/tf_backend.py); it never imports
TensorFlow. Each worker runs ganime_core's TrainingRun under a MultiWorkerMirroredStrategy (the
backend sets TF_CONFIG), reads only its shard of the files, and reports every epoch to Ray; rank
0 attaches the epoch's checkpoint, which Ray persists and hands back on a restart, and records
the epoch with the same MLflow sink a local run uses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import ray
from ray.train import (
    CheckpointConfig,
    FailureConfig,
    RunConfig,
    ScalingConfig,
    TrainingFailedError,
)

from ganime_core.config import ExperimentConfig
from ganime_core.errors import GanimeError, last_line
from ganime_core.metrics import names
from orchestration.ray_internals import TrainerWithoutCleaner, is_worker_startup_timeout
from orchestration.tracking.runs import RunLogger, open_run, tracking_uri
from orchestration.tracking.sink import MlflowSink
from orchestration.training.summary import run_summary
from orchestration.training.tf_backend import TensorflowBackendConfig

log = logging.getLogger(__name__)

RUNNER = "ray_train"
# Ray Train's own setting: how long a worker group may take to start. Its default, 60 s, is
# short for a busy node (workers importing TensorFlow side by side): GANime's is 300 s unless
# the environment says otherwise.
WORKER_START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"
WORKER_START_TIMEOUT_S = 300
# What a process that only drives a Train run (a sweep trial's actor, a compare's task) asks
# for: the memory it uses and no CPU, so a run's CPUs and GPUs are exactly its workers' (Ray
# refuses an empty request).
TRAIN_DRIVER_MEMORY = 512 * 1024**2
WORK = "work"  # train_loop_config's one key: the run's WorkerWork
TRACKED = "tracked"  # set in the report made after rank 0 logged the epoch to MLflow
PAUSED = "paused"  # set in that report when the workers now wait for `pace` (see make_trainer)
# Set in that report too: the state digest of the newest checkpoint (Checkpointer.last_digest),
# which a sweep trial records and hands on with its checkpoint (a PBT exploit's donor).
CHECKPOINT_DIGEST = "checkpoint_digest"
RUN_BEST = "run_best"  # and the run's best evaluation so far (ganime_core.checkpoint.Best), JSON


@dataclass(frozen=True)
class Scaling:
    """How a training job is spread: Ray Train workers, each one replica."""

    workers: int = 1
    cpus_per_worker: int = 1
    gpus_per_worker: int = 0


@dataclass(frozen=True)
class WorkerWork:
    """What every Ray Train worker of a run gets from the driver (pickled with the trainer)."""

    config: ExperimentConfig
    cpus_per_worker: int
    gpus_per_worker: int
    tracking_uri: str  # reachable from the workers (reachable_from_workers)
    run_id: str  # the MLflow run rank 0 records the epochs in
    pace: Any = None  # a sweep trial's ray.util.queue.Queue of step tokens (see make_trainer)
    inherit: InheritedState | None = None  # a PBT exploit: another run's state to go on from


@dataclass(frozen=True)
class InheritedState:
    """Another Train run's checkpoint for this run to go on from (a PBT exploit, see
    ganime_core.checkpoint.Inheritance), with this run's own best evaluation so far."""

    checkpoint: str  # the donor's epoch checkpoint in storage (a path or URI)
    epoch: int
    best: dict[str, Any] | None  # ganime_core.checkpoint.Best, as a dict


@dataclass(frozen=True)
class RayTrainRun:
    """A finished Ray Train job: Ray's Result and the MLflow run that recorded it."""

    result: Any  # ray.train.Result
    run_id: str
    workers: int

    def summary(self) -> dict[str, Any]:
        """`ganime train --workers N`'s JSON line, in the local runner's format."""
        checkpoint = self.result.checkpoint
        return run_summary(
            runner=RUNNER,
            workers=self.workers,
            metrics=reported_metrics(self.result.metrics),
            checkpoint=checkpoint.path if checkpoint else None,
            mlflow_run_id=self.run_id,
        )


def train_on_ray(
    config: ExperimentConfig,
    scaling: Scaling,
    *,
    address: str | None = None,
    storage: str | None = None,
    max_failures: int = 0,
) -> RayTrainRun:
    """Run `config` on Ray Train, tracked in MLflow.

    `storage` (a folder, s3:// or gs:// URI) holds the persisted checkpoints; by default
    `train.output_dir/ray`. A job started again under the same name and storage resumes from
    its newest checkpoint, in the same MLflow run. A failed run raises GanimeError with the
    failing worker's reason.
    """
    storage = storage or str((config.train.output_dir / "ray").resolve())
    uri = tracking_uri()
    run_id = open_run(config, uri, job=f"{storage}/{config.name}")  # fails before any worker
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True)
    trainer = make_trainer(
        config,
        scaling,
        storage=storage,
        name=config.name,
        tracking_uri=reachable_from_workers(uri),
        run_id=run_id,
        max_failures=max_failures,
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        RunLogger(uri, run_id).finish("FAILED")
        raise GanimeError(f"training on Ray failed: {failure_reason(exc)}") from None
    except KeyboardInterrupt:
        RunLogger(uri, run_id).finish("KILLED")
        raise
    RunLogger(uri, run_id).finish("FINISHED")
    return RayTrainRun(result, run_id, scaling.workers)


def make_trainer(
    config: ExperimentConfig,
    scaling: Scaling,
    *,
    storage: str,
    name: str,
    tracking_uri: str,
    run_id: str,
    max_failures: int = 0,
    controller_failure_limit: int = -1,
    callbacks: list[Any] | None = None,
    pace: Any = None,
    inherit: InheritedState | None = None,
) -> Any:
    """A Train V2 trainer running `worker_loop` for `config`, logging to `run_id`.

    `pace` (a sweep trial's ray.util.queue.Queue): after each evaluated epoch but the last,
    every worker waits for a token from it, so the run trains the next epochs only when Tune
    asks for the trial's next step, as an in-process trial does (a trial ASHA stops trains,
    and logs, nothing past the epoch it was judged on).

    Ray's TensorflowTrainer is this DataParallelTrainer with its TensorflowConfig backend; that
    backend lives in `ray.train.tensorflow`, whose package imports TensorFlow, so the driver and
    every Train controller (which unpickles the backend) would import it for nothing.
    `TensorflowBackendConfig` sets the same TF_CONFIG without it. Ray persists checkpoints under
    storage/name; the same name and storage resume them.
    """
    # Read by the Train controller, which fit() starts with this process's environment.
    os.environ.setdefault(WORKER_START_TIMEOUT_ENV, str(WORKER_START_TIMEOUT_S))
    resources = {"CPU": scaling.cpus_per_worker}
    if scaling.gpus_per_worker:
        resources["GPU"] = scaling.gpus_per_worker
    return TrainerWithoutCleaner(
        worker_loop,
        backend_config=TensorflowBackendConfig(),
        # Ray Train takes a dict; its one value is typed.
        train_loop_config={
            WORK: WorkerWork(
                config=config,
                cpus_per_worker=scaling.cpus_per_worker,
                gpus_per_worker=scaling.gpus_per_worker,
                tracking_uri=tracking_uri,
                run_id=run_id,
                pace=pace,
                inherit=inherit,
            )
        },
        scaling_config=ScalingConfig(
            num_workers=scaling.workers,
            use_gpu=scaling.gpus_per_worker > 0,
            resources_per_worker=resources,
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(
                max_failures=max_failures, controller_failure_limit=controller_failure_limit
            ),
            checkpoint_config=CheckpointConfig(num_to_keep=config.train.keep_checkpoints),
            callbacks=callbacks or [],
        ),
    )


def checkpoint_uri(checkpoint: Any) -> str:
    """A ray.train.Checkpoint's location as one string ray.train.Checkpoint reads back:
    its path on a local file system, else scheme://path (s3://bucket/..., gs://...)."""
    scheme = checkpoint.filesystem.type_name
    return checkpoint.path if scheme == "local" else f"{scheme}://{checkpoint.path}"


def reported_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """A worker's report without the keys that only pace the run."""
    return {
        key: value
        for key, value in report.items()
        if key not in (TRACKED, PAUSED, CHECKPOINT_DIGEST, RUN_BEST)
    }


def run_best(report: dict[str, Any]) -> dict[str, Any] | None:
    """The run's best evaluation so far as a worker's report carries it (RUN_BEST)."""
    text = report.get(RUN_BEST)
    return json.loads(text) if text else None


def failure_reason(error: Exception) -> str:
    """One line saying why a Train run (or a Tune trial) failed: the lowest failing rank's own
    message, or why its workers never started."""
    if is_worker_startup_timeout(error):
        timeout = os.environ.get(WORKER_START_TIMEOUT_ENV, "60")
        return (
            f"its workers could not be started within {timeout} s (the cluster has no free "
            f"resources for them); free some, lower the workers' resources, or raise "
            f"${WORKER_START_TIMEOUT_ENV}"
        )
    failures = getattr(error, "worker_failures", None) or {}
    controller_failure = getattr(error, "controller_failure", None)
    cause = failures[min(failures)] if failures else (controller_failure or error)
    cause = getattr(cause, "cause", None) or cause  # a RayTaskError wraps the worker's exception
    if isinstance(cause, GanimeError):
        return str(cause)
    return last_line(str(cause)) or type(cause).__name__


def reachable_from_workers(uri: str) -> str:
    """A tracking server the driver reaches at 127.0.0.1 is on the driver's node: on a
    multi-node cluster, workers elsewhere reach it at that node's address."""
    parsed = urlparse(uri)
    if parsed.hostname not in ("127.0.0.1", "localhost") or len(ray.nodes()) < 2:
        return uri
    node = ray.util.get_node_ip_address()
    return parsed._replace(netloc=parsed.netloc.replace(parsed.hostname, node, 1)).geturl()


def communication_options(gpus_per_worker: int) -> Any:
    """How the workers all-reduce gradients: NCCL between GPUs (what they are built for, over
    NVLink or the network), RING over gRPC between CPUs, where NCCL has nothing to run on.
    Either way the gradients go in few large packs instead of one all-reduce per tensor: at
    64 px on 2 CPUs packing took 2 workers from 5.7 to 15.7 images/s (bench/ray_scaling.py)."""
    import tensorflow as tf

    implementation = tf.distribute.experimental.CommunicationImplementation
    return tf.distribute.experimental.CommunicationOptions(
        bytes_per_pack=64 * 1024 * 1024,
        implementation=implementation.NCCL if gpus_per_worker > 0 else implementation.RING,
    )


def worker_loop(loop_config: dict[str, WorkerWork]) -> None:
    """One Ray Train worker: ganime_core's TrainingRun under MultiWorkerMirroredStrategy."""
    # The lazy seam of this module: the driver and the Train controller import it to build and
    # unpickle the trainer, and must not pay for TensorFlow (tested); only workers train.
    import tensorflow as tf

    from ganime_core.checkpoint import Best, Inheritance, saved_epochs
    from ganime_core.train import TrainingRun, configure_process

    # Ray pins OMP threads only; TensorFlow's own pools would otherwise take every core of the
    # node, and workers sharing a node would fight over them.
    work = loop_config[WORK]
    configure_process(work.cpus_per_worker)

    rank = ray.train.get_context().get_world_rank()
    pace = work.pace
    # Each worker writes its own copy of the run locally; rank 0's checkpoints reach storage
    # through ray.train.report (which uploads before it returns), so the copy is removed when
    # the worker ends: a node's disk would otherwise keep every run's checkpoints.
    local = Path(tempfile.mkdtemp(prefix=f"ganime-rank{rank}-"))
    config = work.config.replace({"train.output_dir": local}, source="worker config")
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=communication_options(work.gpus_per_worker)
    )
    resume_from = None
    restored = ray.train.get_checkpoint()
    if restored is not None:
        resume_from = Path(restored.to_directory(str(local / "restored" / "checkpoint")))
    inherit = None
    # The donor's state, unless this run's own checkpoints are past it (a restart after the
    # run trained on from it).
    if work.inherit is not None and (
        resume_from is None or saved_epochs(resume_from) <= work.inherit.epoch
    ):
        donor = ray.train.Checkpoint(work.inherit.checkpoint)
        inherited = Path(donor.to_directory(str(local / "inherited" / "checkpoint")))
        best = Best(**work.inherit.best) if work.inherit.best else None
        inherit, resume_from = Inheritance(inherited, best), None

    run = TrainingRun(
        config,
        strategy=strategy,
        resume_from=resume_from,
        inherit=inherit,
        is_chief=rank == 0,
        progress=False,
    )
    sink = None
    if rank == 0:
        sink = MlflowSink(config, work.tracking_uri, work.run_id, RUNNER)
        sink.start(run.data, run.input_example())
        sink.catch_up(run.restored_epochs, run.family)
    try:
        while not run.finished:
            report = run.run_epoch()
            metrics = {
                **report.metrics(),
                names.EPOCH: report.epoch,
                names.RESUMED_FROM: report.resumed_from,
            }
            checkpoint, name = None, None
            if rank == 0 and report.checkpoint is not None:
                checkpoint = ray.train.Checkpoint.from_directory(str(report.checkpoint))
                name = report.checkpoint.name  # epoch-NNNN in storage too
            # Every worker reports every epoch: report is a barrier across workers.
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
            if sink:
                sink.record(report, run.family)
            # A second barrier once rank 0 has logged the epoch to MLflow: only this report
            # reaches a sweep's scheduler, so a trial it stops never loses the epoch it was
            # judged on.
            pause = pace is not None and config.train.evaluates(report.epoch) and not report.last
            state = {
                CHECKPOINT_DIGEST: run.checkpointer.last_digest,
                RUN_BEST: json.dumps(asdict(run.best)) if run.best else "",
            }
            ray.train.report({**metrics, TRACKED: 1, PAUSED: int(pause), **state})
            if pause:
                pace.get()  # the trial's next step (or its stop, which aborts this run)
    finally:
        if sink:
            sink.close(None)  # the driver ends the run
        shutil.rmtree(local, ignore_errors=True)
