"""Where a job's state lives: STORAGE/NAME holds its runs' checkpoints and its resolved file
(a JSON record), so that `--resume NAME` needs only the name (and the same storage). STORAGE is
a folder or a URI that pyarrow reaches (s3://, gs://).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.fs

DEFAULT_STORAGE = "runs/ray"


def storage_root(storage: str | None) -> str:
    """--storage, else $GANIME_RAY_STORAGE, else runs/ray here; a local folder made absolute."""
    root = storage or os.environ.get("GANIME_RAY_STORAGE") or DEFAULT_STORAGE
    return root if "://" in root else str(Path(root).resolve())


def filesystem(uri: str) -> tuple[Any, str]:
    """pyarrow's filesystem for `uri` (a folder or a URI) and the path within it."""
    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else Path(uri).resolve().as_uri())


def save_record(root: str, name: str, file: str, record: dict[str, Any]) -> None:
    """`record` as JSON in ROOT/NAME/FILE."""
    fs, path = filesystem(f"{root}/{name}")
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{file}") as out:
        out.write(json.dumps(record, indent=2).encode())


def load_record(root: str, name: str, file: str) -> dict[str, Any] | None:
    """The JSON record ROOT/NAME/FILE, or None if there is none."""
    fs, path = filesystem(f"{root}/{name}")
    try:
        with fs.open_input_stream(f"{path}/{file}") as stream:
            return json.loads(stream.read())
    except (FileNotFoundError, pyarrow.lib.ArrowIOError):
        return None
