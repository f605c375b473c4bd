"""Where a sweep's state lives: Tune's experiment in STORAGE/NAME, each trial's checkpoints
below it, and the resolved sweep in STORAGE/NAME/ganime-sweep.json, so that `ganime sweep
--resume NAME` needs only the name (and the same storage). A compare keeps its resolved file
and its runs' checkpoints the same way (STORAGE/NAME/ganime-compare.json). STORAGE is a folder
or a URI that pyarrow reaches (s3://, gs://).
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


def save_record(root: str, name: str, file: str, record: dict[str, Any]) -> None:
    """`record` as JSON in ROOT/NAME/FILE."""
    fs, path = _filesystem(f"{root}/{name}")
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{file}") as out:
        out.write(json.dumps(record, indent=2).encode())


def load_record(root: str, name: str, file: str) -> dict[str, Any] | None:
    """The JSON record ROOT/NAME/FILE, or None if there is none."""
    fs, path = _filesystem(f"{root}/{name}")
    try:
        with fs.open_input_stream(f"{path}/{file}") as stream:
            return json.loads(stream.read())
    except (FileNotFoundError, pyarrow.lib.ArrowIOError):
        return None


def save_sweep(sweep: Sweep, root: str, parent_run_id: str) -> None:
    save_record(root, sweep.name, SWEEP_FILE, {**sweep.to_record(), "parent_run_id": parent_run_id})


def sweep_exists(name: str, root: str) -> bool:
    fs, path = _filesystem(f"{root}/{name}")
    return fs.get_file_info(f"{path}/{SWEEP_FILE}").type != pyarrow.fs.FileType.NotFound


def load_saved_sweep(name: str, root: str) -> tuple[Sweep, str]:
    """The sweep NAME as it was started, and its parent run id; GanimeError if there is none."""
    record = load_record(root, name, SWEEP_FILE)
    if record is None:
        raise GanimeError(
            f"no sweep {name!r} in {root}; start it with ganime sweep SWEEP.yaml, or pass the "
            "--storage it was started with"
        )
    return Sweep.from_record(record), record["parent_run_id"]
