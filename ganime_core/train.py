"""The train loop for any model family, under any tf.distribute strategy.

One process uses the default strategy; Ray Train workers pass a MultiWorkerMirroredStrategy.
A `TrainingRun` advances one epoch at a time: train steps, the sample grid, an evaluation at
the configured epochs (FID/KID/SSIM with an Evaluator built once), a checkpoint that also holds
the best score so far, and an `EpochReport`. Whoever drives it (a CLI run, a sweep trial, a Ray
Train worker) hands each report to its sinks. Nothing here knows about Ray or MLflow.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ganime_core.checkpoint import (
    Best,
    Checkpointer,
    CheckpointState,
    EpochRecord,
    Inheritance,
    checkpoint_name,
    config_yaml,
)
from ganime_core.config import ExperimentConfig
from ganime_core.data.pipeline import TrainingData, set_input_threads, to_uint8
from ganime_core.errors import GanimeError
from ganime_core.evaluation import Evaluation, EvaluationCache, Evaluator
from ganime_core.families import build_family
from ganime_core.families.base import ModelFamily
from ganime_core.metrics import names
from ganime_core.samples import sample_grid, write_png
from ganime_core.splits import SELECTION

log = logging.getLogger(__name__)


class NonFiniteLossError(GanimeError):
    """A loss became NaN or Inf; the run cannot recover from it."""


class XlaUnsupportedError(GanimeError):
    """train.jit_compile is on, and XLA cannot compile the family's step on this device."""


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # epochs completed, counting from 1
    losses: dict[str, float]  # means over the epoch's steps
    images_per_second: float  # global batch throughput, excluding the first (tracing) step
    seconds: float  # inside train steps
    sample_grid: Path | None
    checkpoint: Path | None  # written at the end of this epoch, if any
    resumed_from: int  # epochs done by the checkpoint this run started from (0: a fresh start)
    last: bool = False  # the run's final epoch (train.epochs)
    evaluation: Evaluation | None = None  # at evaluation epochs, on the chief
    # A method that uses references, evaluated with seeded draws, is evaluated again with each
    # sketch's own colour image as its reference: an oracle, logged under gt_ref_ names.
    ground_truth_evaluation: Evaluation | None = None
    eval_seconds: float = 0.0
    best: Best | None = None  # the run's best evaluation so far, this epoch's included
    improved: bool = False  # this epoch's evaluation is the new best: its generator is the best

    def metrics(self) -> dict[str, float]:
        """The epoch as sinks record it (step = epoch): losses, throughput, time and, at an
        evaluation, the metrics and the best so far."""
        metrics = {
            **self.losses,
            names.IMAGES_PER_SECOND: self.images_per_second,
            names.EPOCH_SECONDS: self.seconds,
        }
        for evaluation in (self.evaluation, self.ground_truth_evaluation):
            if evaluation is not None:
                metrics.update(evaluation.metrics())
        if self.evaluation is not None:
            metrics[names.EVAL_SECONDS] = self.eval_seconds
        if self.best is not None:
            metrics[names.best_name(self.best.name)] = self.best.value
        return metrics

    def record(self) -> EpochRecord:
        """What sinks record of this epoch, as its checkpoint keeps it."""
        grid = str(self.sample_grid) if self.sample_grid is not None else None
        return EpochRecord(self.epoch, self.metrics(), grid, self.improved, self.last)


@dataclass
class TrainResult:
    run_dir: Path
    epochs_completed: int
    resumed_from: int  # epochs already done by the checkpoint the run started from
    data_hash: str
    best: Best | None = None
    history: list[EpochReport] = field(default_factory=list)


EpochCallback = Callable[[EpochReport, ModelFamily], None]


def prepare(config: ExperimentConfig) -> None:
    """Seed every generator from config.seed, and make ops deterministic if asked.

    Process-wide by nature (TensorFlow's global seed and determinism switch), so it is called
    once at the start of a run, never at import.
    """
    keras.utils.set_random_seed(config.seed)
    if config.train.deterministic:
        tf.config.experimental.enable_op_determinism()


def configure_process(cpus: int) -> None:
    """TensorFlow's thread pools (its ops' and the input pipeline's) sized to this process's
    `cpus`, and every visible GPU's memory grown on demand rather than taken whole.
    Process-wide, and for the ops' pools and the GPUs effective only before TensorFlow runs its
    first op: called once by the process that trains (a Ray worker, a trial actor); a later
    call in the same process changes only the input pipelines it builds afterwards.

    The inter-op pool keeps 2 threads even on 1 CPU: a GAN step runs the generator's and the
    discriminator's ops side by side (docs/PERFORMANCE.md).
    """
    set_input_threads(cpus)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, cpus))
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        # TensorFlow already ran here (a Ray worker process reused for another task) and keeps
        # the pools it started with.
        log.debug("TensorFlow already initialized in this process; its thread pools stay")


class TrainingRun:
    """One run of `config`, resumed from the newest checkpoint of its run dir (or
    `resume_from`, or another run's state: `inherit`), advanced an epoch at a time. Only the
    chief writes samples, evaluates and keeps checkpoints. `cache` lets a process that trains
    many runs build InceptionV3 once.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        strategy: tf.distribute.Strategy | None = None,
        resume_from: Path | None = None,
        inherit: Inheritance | None = None,
        is_chief: bool = True,
        progress: bool = True,
        cache: EvaluationCache | None = None,
    ) -> None:
        prepare(config)
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief = is_chief
        self.progress = progress
        self.data = TrainingData(config)
        for line in self.data.describe():
            log.info("data %s", line)
        with self.strategy.scope():
            self.family = build_family(config)
            self.family.precompute(self.data)  # e.g. Style2paints' hint tables: replicated
        self.checkpointer = Checkpointer(
            config.run_dir / "checkpoints",
            self.family,
            config,
            keep=config.train.keep_checkpoints,
        )
        if inherit is not None:
            state = self.checkpointer.inherit(inherit)
            log.info("inherited %s (%d epochs done)", inherit.checkpoint, state.epochs_completed)
        else:
            start = resume_from or self.checkpointer.latest()
            state = self.checkpointer.restore(start) if start else CheckpointState(0)
            if start:
                log.info("resumed from %s (%d epochs done)", start, state.epochs_completed)
        self.epochs_done = self.resumed_from = state.epochs_completed
        self.best = state.best
        self.start_digest = state.digest  # of the state it started from ("" if fresh)
        # The starting checkpoint's epochs, for sinks to record any a killed run did not.
        self.restored_epochs = state.epochs
        self._uncheckpointed: list[EpochRecord] = []  # epochs since the last checkpoint
        # Built before the first step, so a missing backbone stops the run before it trains.
        self.evaluator = None
        if is_chief and config.train.evaluates_any():
            # Selection, never test: the best generator is chosen by these numbers.
            self.evaluator = Evaluator(config, self.data, split=SELECTION, cache=cache)
        if is_chief:
            config.run_dir.mkdir(parents=True, exist_ok=True)
            (config.run_dir / "config.yaml").write_text(config_yaml(config))
        if config.train.jit_compile:
            check_xla(self.family, self._batch_like(), self.strategy)
        self._step = distributed_step(self.family, self.strategy, config.train.jit_compile)
        self.colorizer = self.family.colorizer()
        # A method that colorizes after a reference shows (and is logged with) the references
        # its evaluations use.
        self.reference = config.metrics.reference if self.colorizer.needs_reference else None
        samples = self.data.eval_dataset(
            SELECTION, batch_size=config.train.sample_images, reference=self.reference
        )
        self._samples = next(iter(samples))

    @property
    def finished(self) -> bool:
        return self.epochs_done >= self.config.train.epochs

    def input_example(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The first selection sketch, and its reference for a method that uses one, as uint8
        (h, w, 3): what a caller of the model sends."""
        sketch = to_uint8(self._samples["sketch"][:1]).numpy()[0]
        if self.reference is None:
            return sketch, None
        return sketch, to_uint8(self._samples["reference"][:1]).numpy()[0]

    def _batch_like(self) -> dict[str, tf.Tensor]:
        """Zeros shaped and typed as one replica's train batch."""
        context = tf.distribute.InputContext(
            num_replicas_in_sync=self.strategy.num_replicas_in_sync
        )
        spec = self.data.train_dataset(0, context).element_spec
        return {key: tf.zeros(value.shape, value.dtype) for key, value in spec.items()}

    def run_epoch(self) -> EpochReport:
        """Train the next epoch; sample, evaluate and checkpoint it as configured."""
        config, epoch = self.config, self.epochs_done
        dataset = self.strategy.distribute_datasets_from_function(
            partial(self.data.train_dataset, epoch)
        )
        losses, images_per_second, seconds = _run_epoch(
            self._step, dataset, self.data.steps_per_epoch, config, epoch, self.progress
        )
        completed = epoch + 1
        grid_path = None
        if self.is_chief:
            sketch, color = self._samples["sketch"], self._samples["color"]
            reference = self._samples.get("reference")
            grid = sample_grid(sketch, self.colorizer(sketch, reference), color, reference)
            name = f"{checkpoint_name(completed)}.png"
            grid_path = write_png(grid, config.run_dir / "samples" / name)
        evaluation, oracle, eval_seconds, improved = None, None, 0.0, False
        if self.evaluator is not None and config.train.evaluates(completed):
            started = time.perf_counter()
            evaluation = self.evaluator.evaluate(self.colorizer)
            if self.reference == "random_train" and self.data.paired_files:
                oracle = self.evaluator.evaluate(self.colorizer, reference="ground_truth")
            eval_seconds = time.perf_counter() - started
            improved = self._keep_if_best(evaluation, completed)
        report = EpochReport(
            completed,
            losses,
            images_per_second,
            seconds,
            grid_path,
            checkpoint=None,
            resumed_from=self.resumed_from,
            last=completed == config.train.epochs,
            evaluation=evaluation,
            ground_truth_evaluation=oracle,
            eval_seconds=eval_seconds,
            best=self.best,
            improved=improved,
        )
        self._uncheckpointed.append(report.record())
        # An evaluated epoch is always checkpointed: a resumed run never repeats an evaluation,
        # and the best generator is one a checkpoint holds.
        if evaluation is not None or config.train.checkpoints(completed):
            saved = self.checkpointer.save(completed, self.best, tuple(self._uncheckpointed))
            report = replace(report, checkpoint=saved)
            self._uncheckpointed.clear()
        self.epochs_done = completed
        measured = [e.metrics() for e in (evaluation, oracle) if e is not None]
        shown = _format({**losses, **{k: v for m in measured for k, v in m.items()}})
        log.info(
            "epoch %d/%d  %s  %.1f img/s", completed, config.train.epochs, shown, images_per_second
        )
        return report

    def run(self, on_epoch_end: EpochCallback | None = None) -> TrainResult:
        """Train to `train.epochs`, handing each epoch's report to `on_epoch_end`."""
        result = TrainResult(
            self.config.run_dir, self.epochs_done, self.resumed_from, self.data.content_hash
        )
        while not self.finished:
            report = self.run_epoch()
            result.history.append(report)
            result.epochs_completed = report.epoch
            if on_epoch_end:
                on_epoch_end(report, self.family)
        result.best = self.best
        return result

    def _keep_if_best(self, evaluation: Evaluation, epoch: int) -> bool:
        name = evaluation.name(names.BEST_BY)
        value = evaluation.value(names.BEST_BY)
        # A best measured with another backbone is not comparable: this one starts afresh.
        than = self.best.value if self.best and self.best.name == name else None
        if value is None or not names.is_better(name, value, than):
            return False
        self.best = Best(name, value, epoch)
        return True


def train(
    config: ExperimentConfig,
    *,
    strategy: tf.distribute.Strategy | None = None,
    on_epoch_end: EpochCallback | None = None,
    resume_from: Path | None = None,
    is_chief: bool = True,
    progress: bool = True,
    cache: EvaluationCache | None = None,
) -> TrainResult:
    """Train `config` to `config.train.epochs` (see TrainingRun)."""
    run = TrainingRun(
        config,
        strategy=strategy,
        resume_from=resume_from,
        is_chief=is_chief,
        progress=progress,
        cache=cache,
    )
    return run.run(on_epoch_end)


def distributed_step(
    family: ModelFamily, strategy: tf.distribute.Strategy, jit_compile: bool = False
):
    """One tf.function: every replica's train step, losses summed into global-batch means.

    `jit_compile`: each replica's forward and backward pass (`family.gradients`) is one XLA
    computation, where the fusion pays; the replicas' all-reduce and the Adam updates stay
    outside it, which every strategy supports (TensorFlow compiles a replica's collectives into
    XLA only when all replicas are GPUs: mirrored_run.py).
    """
    gradients = tf.function(family.gradients, jit_compile=True) if jit_compile else family.gradients

    def replica_step(batch):
        losses, grads = gradients(batch)
        family.apply(grads)
        return losses

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }

    return step


def check_xla(
    family: ModelFamily, batch: dict[str, tf.Tensor], strategy: tf.distribute.Strategy
) -> None:
    """Raise XlaUnsupportedError, naming the ops, if XLA cannot compile `family`'s forward and
    backward pass on this process's device. Lowering the step to HLO finds them without
    running it, so a run stops before it trains rather than at its first step."""
    compiled = tf.function(family.gradients, jit_compile=True)
    try:
        with strategy.scope():
            strategy.run(lambda b: compiled.experimental_get_compiler_ir(b)(stage="hlo"), (batch,))
    except (ValueError, tf.errors.OpError) as exc:
        text = str(exc)
        unsupported = sorted(set(re.findall(r"(\w+) \(No registered '", text)))
        device = re.search(r"on (XLA_\w+)", text)
        raise XlaUnsupportedError(
            f"train.jit_compile: XLA cannot compile {family.name}'s train step"
            + (f" on {device.group(1)}" if device else "")
            + (f" (unsupported ops: {', '.join(unsupported)})" if unsupported else "")
            + "; set train.jit_compile=false"
        ) from None


def _run_epoch(step, dataset, steps: int, config: ExperimentConfig, epoch: int, progress: bool):
    totals: dict[str, float] = {}
    bar = tqdm(
        total=steps,
        desc=f"epoch {epoch + 1}/{config.train.epochs}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    start = time.perf_counter()
    after_first = start
    for i, batch in enumerate(dataset):
        losses = {name: float(value) for name, value in step(batch).items()}
        for name, value in losses.items():
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"loss {name} became {value} at epoch {epoch + 1}, step {i + 1}; lower "
                    "optimizer.learning_rate or the loss weights"
                )
            totals[name] = totals.get(name, 0.0) + value
        if i == 0:
            after_first = time.perf_counter()
        bar.update()
        bar.set_postfix_str(_format({k: v / (i + 1) for k, v in totals.items()}), refresh=False)
    bar.close()
    end = time.perf_counter()
    timed_steps, timed = (steps - 1, end - after_first) if steps > 1 else (steps, end - start)
    images_per_second = timed_steps * config.train.batch_size / max(timed, 1e-9)
    return {k: v / steps for k, v in totals.items()}, images_per_second, end - start


def _format(values: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in values.items())
