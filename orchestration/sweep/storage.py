"""Where a sweep's state lives: Tune's experiment in STORAGE/NAME, each trial's checkpoints
below it, and the resolved sweep in STORAGE/NAME/ganime-sweep.json, so that `ganime sweep
--resume NAME` needs only the name (and the same storage). STORAGE is a folder or a URI that
pyarrow reaches (s3://, gs://).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.fs

from ganime_core.errors import GanimeError
from orchestration.sweep.spec import Sweep

DEFAULT_STORAGE = "runs/ray"
SWEEP_FILE = "ganime-sweep.json"


def storage_root(storage: str | None) -> str:
    """--storage, else $GANIME_RAY_STORAGE, else runs/ray here; a local folder made absolute."""
    root = storage or os.environ.get("GANIME_RAY_STORAGE") or DEFAULT_STORAGE
    return root if "://" in root else str(Path(root).resolve())


def _filesystem(uri: str) -> tuple[Any, str]:
    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else Path(uri).resolve().as_uri())


def save_sweep(sweep: Sweep, root: str, parent_run_id: str) -> None:
    fs, path = _filesystem(f"{root}/{sweep.name}")
    fs.create_dir(path, recursive=True)
    record = {**sweep.to_record(), "parent_run_id": parent_run_id}
    with fs.open_output_stream(f"{path}/{SWEEP_FILE}") as out:
        out.write(json.dumps(record, indent=2).encode())


def sweep_exists(name: str, root: str) -> bool:
    fs, path = _filesystem(f"{root}/{name}")
    return fs.get_file_info(f"{path}/{SWEEP_FILE}").type != pyarrow.fs.FileType.NotFound


def load_saved_sweep(name: str, root: str) -> tuple[Sweep, str]:
    """The sweep NAME as it was started, and its parent run id; GanimeError if there is none."""
    fs, path = _filesystem(f"{root}/{name}")
    try:
        with fs.open_input_stream(f"{path}/{SWEEP_FILE}") as stream:
            record = json.loads(stream.read())
    except (FileNotFoundError, pyarrow.lib.ArrowIOError):
        raise GanimeError(
            f"no sweep {name!r} in {root}; start it with ganime sweep SWEEP.yaml, or pass the "
            "--storage it was started with"
        ) from None
    return Sweep.from_record(record), record["parent_run_id"]
