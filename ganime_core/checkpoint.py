"""Epoch checkpoints: networks, optimizers, dropout RNG and the data position (the epoch).

Each checkpoint is a directory `epoch-NNNN/` written under a temporary name and renamed into place,
so a crash during a save leaves the previous checkpoint intact and a half-written one is never
picked up. The same directory is what Ray Train uploads with `ray.train.report(checkpoint=...)`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import tensorflow as tf

from ganime_core.errors import CheckpointError

STATE_FILE = "state.json"
_PREFIX = "ckpt"
_NAME = re.compile(r"^epoch-(\d{4,})$")


def checkpoint_name(epochs_completed: int) -> str:
    return f"epoch-{epochs_completed:04d}"


class Checkpointer:
    """Saves and restores a model family's state under `directory`, keeping the newest `keep`."""

    def __init__(self, directory: Path, items: dict[str, Any], fingerprint: str, keep: int) -> None:
        self.directory = directory
        self.fingerprint = fingerprint
        self.keep = keep
        self._checkpoint = tf.train.Checkpoint(**items)

    def latest(self) -> Path | None:
        """The complete checkpoint with the most epochs, if any."""
        found = self._complete()
        return found[-1] if found else None

    def save(self, epochs_completed: int) -> Path:
        """Write a checkpoint after `epochs_completed` epochs; return its directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / checkpoint_name(epochs_completed)
        tmp = self.directory / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        self._checkpoint.write(str(tmp / _PREFIX))
        state = {"epochs_completed": epochs_completed, "fingerprint": self.fingerprint}
        (tmp / STATE_FILE).write_text(json.dumps(state))
        if final.exists():  # the same epoch saved again after a resume
            shutil.rmtree(final)
        os.rename(tmp, final)
        for old in self._complete()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def restore(self, path: Path) -> int:
        """Load `path` into the family; return the epochs it had completed."""
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
        self._checkpoint.read(str(path / _PREFIX)).assert_existing_objects_matched()
        return int(state["epochs_completed"])

    def _complete(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        found = [
            (int(m.group(1)), p)
            for p in self.directory.iterdir()
            if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()
        ]
        return [p for _, p in sorted(found)]
