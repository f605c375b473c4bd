"""The train loop for any model family, under any tf.distribute strategy.

One process uses the default strategy; Ray Train workers pass a MultiWorkerMirroredStrategy and an
`on_epoch_end` callback that reports to Ray. Nothing here knows about Ray or MLflow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from ganime_core.checkpoint import Checkpointer, checkpoint_name, config_yaml
from ganime_core.config import ExperimentConfig
from ganime_core.data.pipeline import TrainingData
from ganime_core.errors import GanimeError
from ganime_core.families import build_family
from ganime_core.families.base import ModelFamily
from ganime_core.samples import sample_grid, write_png

log = logging.getLogger(__name__)


class NonFiniteLossError(GanimeError):
    """A loss became NaN or Inf; the run cannot recover from it."""


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # epochs completed, counting from 1
    losses: dict[str, float]  # means over the epoch's steps
    images_per_second: float  # global batch throughput, excluding the first (tracing) step
    seconds: float
    sample_grid: Path | None
    checkpoint: Path | None  # written at the end of this epoch, if any
    resumed_from: int  # epochs done by the checkpoint this run started from (0: a fresh start)


@dataclass
class TrainResult:
    run_dir: Path
    epochs_completed: int
    resumed_from: int  # epochs already done by the checkpoint the run started from
    data_hash: str
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


def train(
    config: ExperimentConfig,
    *,
    strategy: tf.distribute.Strategy | None = None,
    on_epoch_end: EpochCallback | None = None,
    resume_from: Path | None = None,
    is_chief: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train `config` to `config.train.epochs`, resuming from the newest checkpoint of its run dir
    (or `resume_from`). Only the chief writes samples and keeps checkpoints."""
    prepare(config)
    strategy = strategy or tf.distribute.get_strategy()
    run_dir = config.run_dir
    data = TrainingData(config)
    for line in data.describe():
        log.info("data %s", line)

    with strategy.scope():
        family = build_family(config)
    checkpointer = Checkpointer(
        run_dir / "checkpoints",
        family.checkpoint_items(),
        config,
        keep=config.train.keep_checkpoints,
    )
    start = resume_from or checkpointer.latest()
    done = checkpointer.restore(start) if start else 0
    if start:
        log.info("resumed from %s (%d epochs done)", start, done)
    if is_chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config_yaml(config))

    step = distributed_step(family, strategy)
    samples = next(iter(data.eval_dataset("val", batch_size=config.train.sample_images)))
    result = TrainResult(run_dir, done, resumed_from=done, data_hash=data.content_hash)

    for epoch in range(done, config.train.epochs):
        dataset = strategy.distribute_datasets_from_function(partial(data.train_dataset, epoch))
        losses, images_per_second, seconds = _run_epoch(
            step, dataset, data.steps_per_epoch, config, epoch, progress
        )
        completed = epoch + 1
        grid_path = None
        if is_chief:
            grid = sample_grid(
                samples["sketch"], family.generate(samples["sketch"]), samples["color"]
            )
            grid_path = write_png(grid, run_dir / "samples" / f"{checkpoint_name(completed)}.png")
        checkpoint = None
        if completed % config.train.checkpoint_every == 0 or completed == config.train.epochs:
            checkpoint = checkpointer.save(completed)
        report = EpochReport(
            completed, losses, images_per_second, seconds, grid_path, checkpoint, resumed_from=done
        )
        log.info(
            "epoch %d/%d  %s  %.1f img/s",
            completed,
            config.train.epochs,
            _format(losses),
            images_per_second,
        )
        result.history.append(report)
        result.epochs_completed = completed
        if on_epoch_end:
            on_epoch_end(report, family)
    return result


def distributed_step(family: ModelFamily, strategy: tf.distribute.Strategy):
    """One tf.function: every replica's train step, losses summed into global-batch means."""

    @tf.function
    def step(batch):
        per_replica = strategy.run(family.train_step, args=(batch,))
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }

    return step


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


def _format(losses: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in losses.items())
