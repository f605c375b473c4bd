"""What a sweep trial keeps of itself across the actors it runs in, and a PBT trial's lineage.

Tune hands a restored trial only a checkpoint, and under PBT that checkpoint may be another
trial's (an exploit). So what is the trial's own (its MLflow run, the values it trains under,
its best evaluation, the exploits it took) is kept beside its checkpoints, in the sweep's
storage, and rewritten after each of its steps: `TrialRecord`. What a trial's checkpoint says
of the trial that wrote it is `CheckpointOwner`; a checkpoint whose owner is another trial is an
exploit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestration.jobs.storage import load_record, save_record
from orchestration.sweep.summary import short_value

OWNER_FILE = "ganime-trial.json"  # in each Tune checkpoint of a trial
RECORDS = "trial-records"  # STORAGE/SWEEP/trial-records/TRIAL_ID.json


@dataclass(frozen=True)
class CheckpointOwner:
    """The trial that wrote a Tune checkpoint, and its state there."""

    trial_id: str
    trial: int  # its number
    run_id: str  # its MLflow run
    epoch: int  # the epoch checkpoint inside (0: none yet)
    params: dict[str, Any]  # the searched values it trained under
    digest: str  # the epoch checkpoint's state (ganime_core.checkpoint.Checkpointer.digest)
    last_result: dict[str, Any]  # what the trial last reported to Tune
    # A Ray Train trial's epoch checkpoint in storage (ray_train.checkpoint_uri); an in-process
    # trial's is inside the Tune checkpoint ("").
    train_checkpoint: str = ""

    def write(self, folder: Path) -> None:
        (folder / OWNER_FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, folder: Path) -> CheckpointOwner | None:
        path = folder / OWNER_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


@dataclass(frozen=True)
class Exploit:
    """One PBT exploit as the trial that took it records it."""

    epoch: int  # the epoch of the state taken: the trial goes on from the next
    donor: int  # the trial whose state it took
    donor_trial_id: str
    donor_run_id: str
    donor_values: dict[str, Any]  # the donor's searched values, which the explore started from
    before: dict[str, Any]  # the searched values it trained under until then
    after: dict[str, Any]  # the explored values it trains under from then on
    digest: str  # the state taken, as the donor saved it: equal bit for bit

    def line(self) -> str:
        return f"epoch {self.epoch}: t{self.donor:02d}'s state, {_values(self.after)}"


@dataclass(frozen=True)
class TrialRecord:
    trial_id: str
    trial: int
    job: str  # what its MLflow run is found by (orchestration.sweep.trainable.trial_job)
    run_id: str
    params: dict[str, Any]  # the searched values it trains under now
    best: dict[str, Any] | None  # its best evaluation (ganime_core.checkpoint.Best, as a dict)
    digests: dict[str, str] = field(default_factory=dict)  # epoch -> its checkpoint's state
    exploits: tuple[Exploit, ...] = ()
    started_with: dict[str, Any] = field(default_factory=dict)  # its values before any exploit

    def schedule(self) -> str:
        """The values it trained under and from when: 't03 lr=0.002 | epoch 2: t01's state,
        lr=0.0024'."""
        start = self.started_with or self.params
        return " | ".join(
            [f"t{self.trial:02d} {_values(start)}", *(e.line() for e in self.exploits)]
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TrialRecord:
        exploits = tuple(Exploit(**e) for e in raw.pop("exploits", []))
        return cls(**raw, exploits=exploits)


def save_trial_record(storage: str, sweep: str, record: TrialRecord) -> None:
    save_record(storage, f"{sweep}/{RECORDS}", f"{record.trial_id}.json", record.to_json())


def load_trial_record(storage: str, sweep: str, trial_id: str) -> TrialRecord | None:
    raw = load_record(storage, f"{sweep}/{RECORDS}", f"{trial_id}.json")
    return TrialRecord.from_json(raw) if raw else None


def _values(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rpartition('.')[2]}={short_value(v)}" for k, v in params.items())
