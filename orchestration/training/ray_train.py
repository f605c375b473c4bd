"""Data-parallel training on Ray Train: the driver side and the per-worker loop.

The driver validates the config, connects to Ray and starts a Train V2 data-parallel trainer with
a TensorFlow backend (orchestration.tf_backend); it never imports TensorFlow. Each worker runs
ganime_core's train loop under a MultiWorkerMirroredStrategy (the backend sets TF_CONFIG), reads
only its shard of the files, and reports every epoch to Ray; rank 0 attaches the epoch's
checkpoint, which Ray persists and hands back on a restart.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ganime_core.config import ExperimentConfig, parse_config
from ganime_core.errors import GanimeError

log = logging.getLogger(__name__)

TRACKED = "tracked"  # set in the report made after rank 0 logged the epoch to MLflow


@dataclass(frozen=True)
class Scaling:
    """How a training job is spread: Ray Train workers, each one replica."""

    workers: int = 1
    cpus_per_worker: int = 1
    gpus_per_worker: int = 0


def train_on_ray(
    config: ExperimentConfig,
    scaling: Scaling,
    *,
    address: str | None = None,
    storage: str | None = None,
    max_failures: int = 0,
) -> Any:
    """Run `config` on Ray Train; return the ray.train.Result.

    `storage` (a folder, s3:// or gs:// URI) holds the persisted checkpoints; by default
    `train.output_dir/ray`. A job started again under the same name and storage resumes from
    its newest checkpoint. A failed run raises GanimeError with the failing worker's reason.
    """
    import ray
    from ray.train import TrainingFailedError

    from orchestration.tracking import RunLogger, open_run, tracking_uri

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
    RunLogger(uri, run_id).finish("FINISHED")
    return result


def make_trainer(
    config: ExperimentConfig,
    scaling: Scaling,
    *,
    storage: str,
    name: str,
    tracking_uri: str,
    run_id: str,
    max_failures: int = 0,
    callbacks: list[Any] | None = None,
) -> Any:
    """A Train V2 trainer running `worker_loop` for `config`, logging to `run_id`.

    Ray's TensorflowTrainer is this DataParallelTrainer with its TensorflowConfig backend; that
    backend lives in `ray.train.tensorflow`, whose package imports TensorFlow, so the driver and
    every Train controller (which unpickles the backend) would import it for nothing.
    `TensorflowBackendConfig` sets the same TF_CONFIG without it. Ray persists checkpoints under
    storage/name; the same name and storage resume them.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    from orchestration.tf_backend import TensorflowBackendConfig

    resources = {"CPU": scaling.cpus_per_worker}
    if scaling.gpus_per_worker:
        resources["GPU"] = scaling.gpus_per_worker
    return DataParallelTrainer(
        worker_loop,
        backend_config=TensorflowBackendConfig(),
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "cpus_per_worker": scaling.cpus_per_worker,
            "tracking_uri": tracking_uri,
            "run_id": run_id,
        },
        scaling_config=ScalingConfig(
            num_workers=scaling.workers,
            use_gpu=scaling.gpus_per_worker > 0,
            resources_per_worker=resources,
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=config.train.keep_checkpoints),
            callbacks=callbacks or [],
        ),
    )


def last_line(text: str) -> str:
    """The last non-empty line: where a traceback names its exception."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def failure_reason(error: Exception) -> str:
    """One line saying why a Train run failed: the lowest failing rank's own message."""
    failures = getattr(error, "worker_failures", None) or {}
    cause = failures[min(failures)] if failures else error
    cause = getattr(cause, "cause", None) or cause  # a RayTaskError wraps the worker's exception
    if isinstance(cause, GanimeError):
        return str(cause)
    return last_line(str(cause)) or type(cause).__name__


def reachable_from_workers(uri: str) -> str:
    """A tracking server the driver reaches at 127.0.0.1 is on the driver's node: on a
    multi-node cluster, workers elsewhere reach it at that node's address."""
    import ray

    parsed = urlparse(uri)
    if parsed.hostname not in ("127.0.0.1", "localhost") or len(ray.nodes()) < 2:
        return uri
    node = ray.util.get_node_ip_address()
    return parsed._replace(netloc=parsed.netloc.replace(parsed.hostname, node, 1)).geturl()


def worker_loop(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker: ganime_core's train loop under MultiWorkerMirroredStrategy."""
    import ray.train
    import tensorflow as tf

    from ganime_core.train import train
    from orchestration.tracking import TrainingTracker

    # Ray pins OMP threads only; TensorFlow's own pools would otherwise take every core of the
    # node, and workers sharing a node would fight over them.
    cpus = int(loop_config["cpus_per_worker"])
    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, cpus))

    context = ray.train.get_context()
    rank = context.get_world_rank()
    # Each worker writes its own copy of the run locally; rank 0's checkpoints reach storage
    # through ray.train.report.
    local = Path(tempfile.mkdtemp(prefix=f"ganime-rank{rank}-"))
    raw = dict(loop_config["config"])
    raw["train"] = {**raw["train"], "output_dir": str(local)}
    config = parse_config(raw, source="worker config")
    # Packing the gradients into few large all-reduces instead of one per tensor: at 64 px
    # on 2 CPUs this took 2 workers from 5.7 to 15.7 images/s (bench/ray_scaling.py).
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            bytes_per_pack=64 * 1024 * 1024,
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
        )
    )

    resume_from = None
    restored = ray.train.get_checkpoint()
    if restored is not None:
        resume_from = Path(restored.to_directory(str(local / "restored" / "checkpoint")))

    tracker = None
    if rank == 0:
        tracker = TrainingTracker(config, loop_config["tracking_uri"], loop_config["run_id"])

    def report(epoch_report, family) -> None:
        evaluation = tracker.evaluate(epoch_report, family) if tracker else {}
        metrics = {
            **evaluation,
            "epoch": epoch_report.epoch,
            **epoch_report.losses,
            "images_per_second": epoch_report.images_per_second,
            "resumed_from": epoch_report.resumed_from,
        }
        checkpoint, name = None, None
        if rank == 0 and epoch_report.checkpoint is not None:
            checkpoint = ray.train.Checkpoint.from_directory(str(epoch_report.checkpoint))
            name = epoch_report.checkpoint.name  # epoch-NNNN in storage too
        # Every worker reports every epoch: report is a barrier across workers.
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name)
        if tracker:
            tracker.record(epoch_report, family, evaluation)
        # A second barrier once rank 0 has logged the epoch to MLflow: only this report reaches a
        # sweep's scheduler, so a trial it stops never loses the epoch it was judged on.
        ray.train.report({**metrics, TRACKED: 1})

    train(
        config,
        strategy=strategy,
        on_epoch_end=report,
        resume_from=resume_from,
        is_chief=rank == 0,
        progress=False,
    )
