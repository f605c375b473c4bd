"""A training run's MLflow record, written from the train loop's EpochReports.

The sink records what the loop decided (which epochs were evaluated, which generator is the
best so far); it never reads MLflow back to decide anything. What it writes, the same for a
local run and a Ray Train run (rank 0):
- each epoch's losses, throughput and time, with step = epoch; FID/KID/SSIM at evaluations;
- the sample grid as an image with key `samples` and step = epoch (the UI's image slider);
- `best_generator` whenever an evaluation improves on the best, `final_generator` at the last
  epoch, as MLflow models (tracking/model.py);
- the data set as a run input, and the run's system metrics (CPU, memory; GPU where present).

Epochs wait until a report carries a checkpoint: on Ray Train the worker hands the sink a
report only once Ray holds that checkpoint, so an epoch a restart would train again is never
logged, and the one epoch read back at start (which epochs the run already holds) keeps a
retrained epoch from being logged twice. The other way round, a run killed after writing a
checkpoint but before logging its epochs would never log them (it resumes after them): the
checkpoint keeps their records, and `catch_up` logs those MLflow lacks. A checkpointed epoch's
models are logged before its metrics, so an epoch whose `epoch` metric is in MLflow has all of
its record there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from PIL import Image

from ganime_core.config import ExperimentConfig
from ganime_core.metrics import names
from ganime_core.splits import SELECTION, TRAIN
from orchestration.tracking import tags
from orchestration.tracking.datasets import log_dataset_input
from orchestration.tracking.model import log_generator_model
from orchestration.tracking.runs import RunLogger

if TYPE_CHECKING:
    from ganime_core.checkpoint import EpochRecord
    from ganime_core.data.pipeline import TrainingData
    from ganime_core.families.base import ModelFamily
    from ganime_core.train import EpochReport

log = logging.getLogger(__name__)

SAMPLES_KEY = "samples"
BEST_GENERATOR = "best_generator"
FINAL_GENERATOR = "final_generator"
METHOD_MODEL = "colorizer"  # what `ganime evaluate EXPERIMENT.yaml` logs of NST, Fast NST
GENERATORS = (BEST_GENERATOR, FINAL_GENERATOR, METHOD_MODEL)  # promote takes the first there
SYSTEM_METRICS_SECONDS = 10.0


class MlflowSink:
    """Records one training run's reports in its MLflow run (opened by `runs.open_run`)."""

    def __init__(
        self,
        config: ExperimentConfig,
        uri: str,
        run_id: str,
        runner: str,
    ) -> None:
        self.config = config
        self.logger = RunLogger(uri, run_id)
        self.runner = runner
        self._pending: list[EpochRecord] = []
        self._logged: set[int] | None = None
        self._example: tuple[np.ndarray, np.ndarray | None] | None = None
        self._monitor = _system_metrics_monitor(uri, run_id)

    @property
    def run_id(self) -> str:
        return self.logger.run_id

    def start(self, data: TrainingData, example: tuple[np.ndarray, np.ndarray | None]) -> None:
        """Tag the run with where it trains and its data, and log the data set as its input.
        `example`, a uint8 (h, w, 3) sketch and its reference (None for a method without), is
        the input example of the models logged."""
        self.logger.log_batch(
            "run tags", run_tags={tags.DATA_HASH: data.content_hash, tags.RUNNER: self.runner}
        )
        # What training reads; the test split is never opened by a run that trains.
        counts = {split: len(data.examples(split, epoch=None)) for split in (TRAIN, SELECTION)}
        log_dataset_input(self.logger, data.root, data.content_hash, counts)
        self._example = example

    def record(self, report: EpochReport, family: ModelFamily) -> None:
        """One epoch of the run; logged once a checkpoint covers it."""
        self._pending.append(report.record())
        if report.checkpoint is None:
            return
        self._log_checkpointed(self._pending, family)
        self._pending.clear()

    def catch_up(self, restored: Sequence[EpochRecord], family: ModelFamily) -> None:
        """Log the epochs of the run's starting checkpoint (`TrainingRun.restored_epochs`, the
        last the checkpointed one, `family` holding its weights) that MLflow lacks: those of a
        run killed between writing that checkpoint and logging them."""
        if restored:
            self._log_checkpointed(restored, family)

    def _log_checkpointed(self, records: Sequence[EpochRecord], family: ModelFamily) -> None:
        """Log `records`, the epochs one checkpoint covers (its own last), skipping those
        already logged."""
        logged = self._logged_epochs()
        *earlier, checkpointed = records
        for record in earlier:
            if record.epoch not in logged:
                self._log_epoch(record)
                logged.add(record.epoch)
        if checkpointed.epoch in logged:
            return
        if checkpointed.improved:
            self._log_generator(family, BEST_GENERATOR, checkpointed.epoch)
        if checkpointed.last:
            self._log_generator(family, FINAL_GENERATOR, checkpointed.epoch)
        self._log_epoch(checkpointed)  # last: its `epoch` metric marks the epoch logged
        logged.add(checkpointed.epoch)

    def close(self, status: str | None) -> None:
        """Stop the system metrics and set the run's status: FINISHED, FAILED, KILLED, or None
        where another process ends the run (a Ray Train worker's driver, a sweep's trial)."""
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None
        if status is not None:
            self.logger.set_status(status)

    def _logged_epochs(self) -> set[int]:
        if self._logged is None:  # read once: which epochs a restarted job already logged
            history = self.logger.retrying(
                "read logged epochs",
                lambda: self.logger.client.get_metric_history(self.run_id, names.EPOCH),
            )
            self._logged = {int(m.step) for m in history or []}
        return self._logged

    def _log_epoch(self, record: EpochRecord) -> None:
        # The grid first: the `epoch` metric, read back on a resume, marks the epoch logged.
        # A grid gone with the process that wrote it (a Ray worker's node) is not logged.
        if record.sample_grid is not None and Path(record.sample_grid).is_file():
            grid = np.asarray(Image.open(record.sample_grid))
            self.logger.retrying(
                f"epoch {record.epoch} samples",
                lambda: self.logger.client.log_image(
                    self.run_id, grid, key=SAMPLES_KEY, step=record.epoch
                ),
            )
        metrics = {**record.metrics, names.EPOCH: record.epoch}
        self.logger.log_batch(f"epoch {record.epoch}", metrics, step=record.epoch)

    def _log_generator(self, family: ModelFamily, name: str, epoch: int) -> None:
        # A lazy seam: Keras, only in the process that trains (promote imports this module).
        from ganime_core.precision import float32_model

        # Logged to be served: computing in float32 whatever train.precision was.
        generator = float32_model(family.generator)
        client, files = self.logger.client, family.model_files()
        self.logger.retrying(
            f"model {name}",
            lambda: log_generator_model(
                client, self.run_id, generator, self.config, name, self._example, epoch, files
            ),
        )


def _system_metrics_monitor(uri: str, run_id: str) -> Any:
    """MLflow's CPU/memory (and, with NVML, GPU) sampler for this run, started."""
    try:
        monitor = SystemMetricsMonitor(
            run_id,
            sampling_interval=SYSTEM_METRICS_SECONDS,
            resume_logging=True,  # a resumed run continues its system metrics' steps
            tracking_uri=uri,
        )
        monitor.start()
    except Exception as exc:  # psutil missing, an unusual platform: training goes on
        log.warning("MLflow: system metrics not logged (%s)", exc)
        return None
    return monitor
