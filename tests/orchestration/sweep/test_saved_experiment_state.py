"""What a killed sweep driver's resume reads: the experiment state in storage, which names the
checkpoint each trial continues from. Killed at the worst moment, right after Tune deleted a
trial's oldest checkpoint (ray_internals.StateSavedBeforeCheckpointsGo, CHECKPOINTS_KEPT) or
right after a PBT exploit (SynchronousPBT, touch point 7), the state names a checkpoint that
exists, and for an exploit's recipient its donor's. Tune runs a trainable that only counts,
no TensorFlow: the schedulers and the checkpoint policy are what is tested. Each driver runs
in its own process, which kills itself (SIGKILL) at that moment, with Tune's periodic save
off, so only the saves the schedulers and Tune force are in storage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from orchestration.ray_internals import CHECKPOINTS_KEPT, ResumableFIFO, SynchronousPBT
from tests.support.paths import REPO
from tests.support.ray_cluster import local_ray_cluster
from tests.support.ray_internals import after_each_trial_checkpoint, exploits_decided

pytestmark = pytest.mark.slow  # starts Ray

EPOCHS = 6


class Counter(tune.Trainable):
    """Adds `rate` to its value each epoch (after `delay` seconds) and reports the value as
    its score; its checkpoint is its epoch and value. Each step is appended to the file
    `log` names, if any: trial id, epoch, value."""

    def setup(self, config: dict[str, Any]) -> None:
        self.epoch, self.value = 0, 0.0

    def step(self) -> dict[str, Any]:
        time.sleep(self.config.get("delay", 0.0))
        self.epoch += 1
        self.value += self.config.get("rate", 1.0)
        if "log" in self.config:
            step = {"trial": self.trial_id, "epoch": self.epoch, "value": self.value}
            with open(self.config["log"], "a") as log:
                log.write(json.dumps(step) + "\n")
        return {"epoch": self.epoch, "score": self.value, "done": self.epoch >= EPOCHS}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        (Path(checkpoint_dir) / "state.json").write_text(json.dumps([self.epoch, self.value]))

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.epoch, self.value = json.loads((Path(checkpoint_dir) / "state.json").read_text())


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _drive(moment: str, storage: str) -> None:
    """The driver process of one test: `moment` names when it kills itself."""
    if moment == "last checkpoint":
        counts: dict[str, int] = {}

        def die_after_the_last(trial: Any) -> None:  # the oldest kept was just deleted
            counts[trial.trial_id] = counts.get(trial.trial_id, 0) + 1
            if counts[trial.trial_id] == EPOCHS:
                _kill_this_process()

        after_each_trial_checkpoint(die_after_the_last)
        counter_tuner(storage, ResumableFIFO(), {}).fit()
        return
    decided = SynchronousPBT.on_trial_result

    def die_after_the_exploit(self: SynchronousPBT, *args: Any) -> str:
        decision = decided(self, *args)
        if exploits_decided(self):  # the exploit is decided and the state saved
            _kill_this_process()
        return decision

    SynchronousPBT.on_trial_result = die_after_the_exploit
    counter_tuner(storage, pbt(), pbt_space(storage, slow=moment.removeprefix("exploit, "))).fit()


def counter_tuner(storage: str, scheduler: Any, space: dict[str, Any]) -> tune.Tuner:
    return tune.Tuner(
        Counter,
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=scheduler),
        run_config=tune.RunConfig(
            name="counter",
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=1, num_to_keep=CHECKPOINTS_KEPT
            ),
        ),
    )


def pbt() -> SynchronousPBT:
    """An exploit after every epoch: the bottom half of two takes the top one's state and its
    rate unchanged."""
    return SynchronousPBT(
        time_attr="epoch",
        metric="score",
        mode="max",
        perturbation_interval=1,
        quantile_fraction=0.5,
        custom_explore_fn=lambda config: config,
        synch=True,
    )


def pbt_space(storage: str, slow: str) -> dict[str, Any]:
    """Two trials, rate 2 (the donor) and rate 1 (the recipient); the `slow` one's epochs take
    2 s longer, so it reports last and the exploit is decided on its result (the other waits
    paused)."""
    slow_rate = {"donor": 2.0, "recipient": 1.0}[slow]
    return {
        "rate": tune.grid_search([2.0, 1.0]),
        "delay": tune.sample_from(lambda spec: 2.0 if spec.config.rate == slow_rate else 0.0),
        "log": str(Path(storage) / "steps.jsonl"),
    }


def killed_driver(moment: str, storage: Path) -> None:
    """Run the driver until it kills itself at `moment`."""
    script = f"from {__name__} import _drive; _drive({moment!r}, {str(storage)!r})"
    driver = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "100000"},
        capture_output=True,
        text=True,
    )
    assert driver.returncode == -signal.SIGKILL, driver.stderr[-3000:]


def test_a_driver_killed_as_tune_deletes_a_checkpoint_resumes_the_trial(tmp_path: Path) -> None:
    """Killed after the last of EPOCHS checkpoints: the resume restores the trial from a
    checkpoint storage still holds and finishes it. (Tune's own saves alone name a deleted
    one: with FIFOScheduler the resumed trial fails, "Could not recover from checkpoint as
    it does not exist on storage anymore", with two checkpoints kept or three; so it does
    under ResumableFIFO with two.)"""
    with local_ray_cluster():
        killed_driver("last checkpoint", tmp_path)
        (result,) = tune.Tuner.restore(str(tmp_path / "counter"), Counter).fit()

    assert result.error is None, result.error
    assert result.metrics["epoch"] == EPOCHS


@pytest.mark.parametrize("last", ["recipient", "donor"])
def test_a_driver_killed_after_a_pbt_exploit_resumes_the_recipient_from_the_donor(
    tmp_path: Path, last: str
) -> None:
    """Killed as soon as the exploit after epoch 1 is decided, on the recipient's result or
    on the donor's: the resumed recipient (rate 1) starts from the donor's epoch-1 state
    (value 2), not from its own or from scratch, and trains epoch 2 under the donor's rate
    (value 4). (Without each trial's state serialized anew, the state saved named no
    checkpoint for a recipient that reported last, which trained epoch 1 again from 0; and
    kept a recipient that waited paused under its old rate and its own checkpoint, which
    went on from value 1 to 2.)"""
    log = tmp_path / "steps.jsonl"
    with local_ray_cluster():
        killed_driver(f"exploit, {last}", tmp_path)
        before = [json.loads(line) for line in log.read_text().splitlines()]
        results = tune.Tuner.restore(str(tmp_path / "counter"), Counter).fit()

    assert sorted((s["epoch"], s["value"]) for s in before) == [(1, 1.0), (1, 2.0)]
    (recipient,) = [s["trial"] for s in before if s["value"] == 1.0]
    after = [json.loads(line) for line in log.read_text().splitlines()[len(before) :]]
    resumed = [(s["epoch"], s["value"]) for s in after if s["trial"] == recipient]
    assert resumed[0] == (2, 4.0), resumed
    assert all(r.error is None and r.metrics["epoch"] == EPOCHS for r in results)
