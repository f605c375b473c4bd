"""Where a sweep's state lives: Tune's experiment in STORAGE/NAME, each trial's checkpoints
below it, and the resolved sweep in STORAGE/NAME/ganime-sweep.json (jobs/storage.py), so that
`ganime sweep --resume NAME` needs only the name (and the same storage).
"""

from __future__ import annotations

import pyarrow.fs

from ganime_core.errors import GanimeError
from orchestration.jobs.storage import filesystem, load_record, save_record
from orchestration.sweep.spec import Sweep

SWEEP_FILE = "ganime-sweep.json"


def save_sweep(sweep: Sweep, root: str, parent_run_id: str) -> None:
    save_record(root, sweep.name, SWEEP_FILE, {**sweep.to_record(), "parent_run_id": parent_run_id})


def sweep_exists(name: str, root: str) -> bool:
    fs, path = filesystem(f"{root}/{name}")
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
