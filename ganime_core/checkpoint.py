"""Epoch checkpoints: networks, optimizers, dropout RNG, the data position (the epoch) and the
resolved configuration, so a checkpoint folder alone is enough to rebuild and use its model.

Each checkpoint is a directory `epoch-NNNN/` written under a temporary name and renamed into place,
so a crash during a save leaves the previous checkpoint intact and a half-written one is never
picked up. The same directory is what Ray Train uploads with `ray.train.report(checkpoint=...)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import tensorflow as tf
import yaml

from ganime_core.config import ExperimentConfig, parse_config
from ganime_core.errors import CheckpointError
from ganime_core.families import build_family
from ganime_core.families.base import ModelFamily

STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"
_PREFIX = "ckpt"
# mixed_float16's loss scales, apart from the weights: a run under another precision has none
# to restore them into, and a float16 run resumed from a checkpoint without them starts its
# scales afresh (they settle within a few steps).
LOSS_SCALE = "loss_scale"
_NAME = re.compile(r"^epoch-(\d{4,})$")


def checkpoint_name(epochs_completed: int) -> str:
    return f"epoch-{epochs_completed:04d}"


@dataclass(frozen=True)
class Best:
    """The best evaluation of a run so far: the metric it was chosen by, its value, its epoch."""

    name: str  # e.g. selection_fid_untrained_inception: another backbone starts afresh
    value: float
    epoch: int


@dataclass(frozen=True)
class EpochRecord:
    """What a run's sinks record of one epoch: its metrics (step = epoch), its sample grid, and
    whether its generator is a new best or the final one. A checkpoint keeps the records of the
    epochs it covers, so a run killed after writing a checkpoint but before its sinks recorded
    those epochs records them when it resumes."""

    epoch: int
    metrics: dict[str, float]
    sample_grid: str | None = None  # the grid's PNG, in the run dir of the process that trained
    improved: bool = False
    last: bool = False


@dataclass(frozen=True)
class CheckpointState:
    """What a checkpoint records besides the weights."""

    epochs_completed: int
    best: Best | None = None
    # The epochs since the previous checkpoint, this one's last: what its sinks may not have
    # recorded yet (empty in checkpoints written before runs kept them).
    epochs: tuple[EpochRecord, ...] = ()
    # sha256 of every variable the checkpoint holds as saved ("" in checkpoints written
    # before runs kept it): what a run that inherits it is checked against, bit for bit.
    digest: str = ""


@dataclass(frozen=True)
class Inheritance:
    """Another run's checkpoint for this run to go on from (a PBT exploit): its networks,
    optimizer slots, dropout RNG and epoch, taken under this run's config, which may differ
    from the one that wrote it in schedulable keys only (ExperimentConfig.schedulable_keys:
    loss weights, the optimizer's step). This run keeps `best`, its own best evaluation so far:
    the evaluations, and the generators logged with them, are this run's record."""

    checkpoint: Path
    best: Best | None


class Checkpointer:
    """Saves and restores a model family's state under `directory`, keeping the newest `keep`."""

    def __init__(
        self, directory: Path, family: ModelFamily, config: ExperimentConfig, keep: int
    ) -> None:
        self.directory = directory
        self.config = config
        self.fingerprint = config.fingerprint()
        self.keep = keep
        self._items = family.checkpoint_items()
        self._optimizers = family.optimizers()
        self._checkpoint = tf.train.Checkpoint(**self._items)
        scales = family.loss_scale_variables()
        self._loss_scale = tf.train.Checkpoint(scales=scales) if scales else None
        # The digest of the newest state saved or restored: what a sweep trial says of the
        # checkpoint it hands on (an exploit's donor), without hashing it again.
        self.last_digest = ""

    def latest(self) -> Path | None:
        """The complete checkpoint with the most epochs, if any."""
        found = complete_checkpoints(self.directory)
        return found[-1] if found else None

    def save(
        self,
        epochs_completed: int,
        best: Best | None = None,
        epochs: tuple[EpochRecord, ...] = (),
    ) -> Path:
        """Write a checkpoint after `epochs_completed` epochs, with the run's best evaluation so
        far and the records of the epochs it covers; return its directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / checkpoint_name(epochs_completed)
        tmp = self.directory / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        self._checkpoint.write(str(tmp / _PREFIX))
        if self._loss_scale is not None:
            self._loss_scale.write(str(tmp / LOSS_SCALE))
        self.last_digest = self.digest()
        state = {
            "epochs_completed": epochs_completed,
            "fingerprint": self.fingerprint,
            "best": asdict(best) if best else None,
            "epochs": [asdict(record) for record in epochs],
            "digest": self.last_digest,
        }
        (tmp / CONFIG_FILE).write_text(config_yaml(self.config))
        (tmp / STATE_FILE).write_text(json.dumps(state))
        if final.exists():  # the same epoch saved again after a resume
            shutil.rmtree(final)
        os.rename(tmp, final)
        for old in complete_checkpoints(self.directory)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def variables(self) -> list[tf.Variable]:
        """Every variable a checkpoint holds, in a fixed order (build order within each item)."""
        found = []
        for name in sorted(self._items):
            item = self._items[name]
            found.extend(item if isinstance(item, list) else item.variables)
        return found

    def digest(self) -> str:
        """sha256 of every variable a checkpoint holds, in a fixed order: equal digests are
        equal states, bit for bit (Keras' layer names are not part of it: they count up per
        process)."""
        hashed = hashlib.sha256()
        for variable in self.variables():
            value = variable.numpy()
            hashed.update(f"{value.shape}{value.dtype}".encode())
            hashed.update(value.tobytes())
        return hashed.hexdigest()

    def inherit(self, inheritance: Inheritance) -> CheckpointState:
        """Load another run's checkpoint (Inheritance) into the family under this config; its
        state is checked bit for bit against the digest it was saved with, then the
        optimizers take this config's learning rate (a checkpoint holds the donor's)."""
        path = inheritance.checkpoint
        donor = read_checkpoint_config(path)
        changeable = self.config.schedulable_keys()
        if donor.fingerprint(excluding=changeable) != self.config.fingerprint(excluding=changeable):
            raise CheckpointError(
                f"{path}: its run differs from this one in more than the schedulable keys "
                f"({', '.join(sorted(changeable))}); only those may change between the runs"
            )
        state = self._read(path)
        if state.digest and self.digest() != state.digest:
            raise CheckpointError(f"{path}: the state read differs from the state it saved")
        for optimizer in self._optimizers.values():
            optimizer.learning_rate = self.config.optimizer.learning_rate
        # The donor's epochs are its record, not this run's.
        return CheckpointState(state.epochs_completed, inheritance.best, (), state.digest)

    def restore(self, path: Path) -> CheckpointState:
        """Load `path` into the family; return what it recorded besides the weights."""
        try:
            state = json.loads((path / STATE_FILE).read_text())
        except (OSError, ValueError):
            raise CheckpointError(
                f"{path} is not a GANime checkpoint (no readable {STATE_FILE}); "
                "point at an epoch-NNNN folder"
            ) from None
        if state["fingerprint"] != self.fingerprint:
            raise CheckpointError(
                f"{path} was written by a different configuration (model, data, optimizer, seed or "
                "batch size changed); start a new run with another name or train.output_dir"
            )
        return self._read(path)

    def _read(self, path: Path) -> CheckpointState:
        state = json.loads((path / STATE_FILE).read_text())
        self.last_digest = state.get("digest", "")
        self._checkpoint.read(str(path / _PREFIX)).assert_existing_objects_matched()
        if self._loss_scale is not None and (path / f"{LOSS_SCALE}.index").is_file():
            self._loss_scale.read(str(path / LOSS_SCALE)).assert_existing_objects_matched()
        best = state.get("best")  # absent in checkpoints written before runs kept it
        return CheckpointState(
            int(state["epochs_completed"]),
            Best(**best) if best else None,
            tuple(EpochRecord(**record) for record in state.get("epochs", [])),
            state.get("digest", ""),
        )


def saved_epochs(checkpoint: Path) -> int:
    """The epochs an epoch checkpoint folder had completed."""
    return int(json.loads((checkpoint / STATE_FILE).read_text())["epochs_completed"])


def complete_checkpoints(directory: Path) -> list[Path]:
    """The finished epoch-NNNN folders in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def config_yaml(config: ExperimentConfig) -> str:
    """The resolved configuration as YAML, loadable with `parse_config`."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def find_checkpoint(path: Path) -> Path:
    """`path` if it is a checkpoint folder, else the newest checkpoint of a run or checkpoints
    folder."""
    if (path / STATE_FILE).is_file():
        return path
    for directory in (path / "checkpoints", path):
        found = complete_checkpoints(directory)
        if found:
            return found[-1]
    raise CheckpointError(
        f"{path}: no GANime checkpoint here; pass an epoch-NNNN folder, or a run folder holding "
        "checkpoints/"
    )


def read_checkpoint_config(checkpoint: Path) -> ExperimentConfig:
    """The configuration a checkpoint folder was written under."""
    try:
        raw = yaml.safe_load((checkpoint / CONFIG_FILE).read_text())
    except OSError:
        raise CheckpointError(
            f"{checkpoint} has no {CONFIG_FILE} (written by an older GANime?); it cannot be "
            "rebuilt on its own"
        ) from None
    return parse_config(raw, source=str(checkpoint / CONFIG_FILE))


def open_checkpoint(path: Path) -> tuple[ExperimentConfig, ModelFamily, int]:
    """Rebuild a checkpoint's model family from its own configuration, computing in float32,
    and restore it.

    Returns the configuration, the family and the epochs it had completed.
    """
    checkpoint = find_checkpoint(path)
    config = read_checkpoint_config(checkpoint)
    # Opened to colorize or measure with: in float32 whatever it trained in, as a logged model
    # runs (precision.py); the weights are the same float32 variables.
    family = build_family(config.replace({"train.precision": "float32"}, source="checkpoint"))
    checkpointer = Checkpointer(checkpoint.parent, family, config, keep=1)
    return config, family, checkpointer.restore(checkpoint).epochs_completed
