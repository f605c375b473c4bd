"""The train loop, checkpoints and the families' train steps, on generated data at 32 px."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganime_core.checkpoint import Best, Checkpointer, Inheritance, open_checkpoint
from ganime_core.config import load_config
from ganime_core.errors import CheckpointError
from ganime_core.families import build_family
from ganime_core.families.pix2pix import Pix2Pix
from ganime_core.losses import (
    adversarial_loss,
    cycle_consistency_loss,
    cyclegan_discriminator_loss,
    l1_loss,
    pix2pix_discriminator_loss,
    total_variation_loss,
)
from ganime_core.train import NonFiniteLossError, TrainingRun, train
from tests.support.paths import EXPERIMENTS, REPO, SMOKE
from tests.support.processes import ganime_command

pytestmark = pytest.mark.slow  # trains models: not in make test-fast


def random_batch(size: int = 32, n: int = 2, seed: int = 0) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return {
        key: tf.constant(rng.uniform(-1, 1, (n, size, size, 3)), tf.float32)
        for key in ("sketch", "color")
    }


def test_short_training_lowers_the_l1_loss_and_writes_outputs(smoke_config) -> None:
    config = smoke_config("train.epochs=3")
    result = train(config, progress=False)
    l1 = [report.losses["gen_l1"] for report in result.history]
    assert l1[-1] < 0.9 * l1[0], l1
    assert result.epochs_completed == 3 and result.resumed_from == 0
    grid = Image.open(result.history[-1].sample_grid)
    assert grid.size == (3 * 32, 4 * 32)  # sketch | generated | target, 4 rows
    assert result.history[-1].checkpoint.name == "epoch-0003"
    assert sorted(p.name for p in (config.run_dir / "checkpoints").iterdir()) == [
        "epoch-0001",
        "epoch-0002",
        "epoch-0003",
    ]
    assert (config.run_dir / "config.yaml").is_file()
    assert all(report.images_per_second > 0 for report in result.history)


def test_evaluations_pick_the_best_generator_and_its_score_survives_a_resume(
    smoke_config,
) -> None:
    """The loop evaluates at eval_every and eval_epochs (each then checkpointed), reports the
    metrics, and keeps the best score in the checkpoint: a resumed run compares against it."""
    first = train(
        smoke_config("train.epochs=2", "train.eval_every=0", "train.eval_epochs=[1]"),
        progress=False,
    )
    one, two = first.history
    assert one.evaluation is not None and two.evaluation is None  # 2 is not an eval epoch
    assert one.improved and one.best.epoch == 1
    assert one.best.name == "selection_fid_untrained_inception"
    assert one.metrics()["selection_best_fid_untrained_inception"] == one.evaluation.fid
    assert "selection_fid_untrained_inception" not in two.metrics() and two.best == one.best

    resumed = train(smoke_config("train.epochs=3", "train.eval_every=0", "train.eval_epochs=[3]"))
    (three,) = resumed.history
    assert resumed.resumed_from == 2 and three.evaluation is not None
    assert three.best.value == min(one.best.value, three.evaluation.fid)  # compared with epoch 1
    assert three.improved == (three.evaluation.fid < one.best.value)


def test_a_finished_run_is_extended_from_its_last_checkpoint(smoke_config) -> None:
    train(smoke_config("train.epochs=1"), progress=False)
    extended = train(smoke_config("train.epochs=2", "train.keep_checkpoints=1"), progress=False)
    assert extended.resumed_from == 1
    assert [r.epoch for r in extended.history] == [2]
    checkpoints = smoke_config().run_dir / "checkpoints"
    assert [p.name for p in checkpoints.iterdir()] == ["epoch-0002"]


def test_a_run_refuses_a_checkpoint_of_another_configuration(smoke_config) -> None:
    train(smoke_config("train.epochs=1"), progress=False)
    with pytest.raises(CheckpointError, match="different configuration"):
        train(smoke_config("train.epochs=2", "model.lambda_tv=0.5"), progress=False)


def test_a_run_inherits_another_runs_state_bit_for_bit_under_changed_loss_weights(
    smoke_config,
) -> None:
    """A PBT exploit: the recipient takes the donor's networks, optimizer slots, RNG and
    epoch exactly, trains on under its own loss weights and learning rate, and keeps its own
    best; a change outside the schedulable keys is refused."""
    donor = train(smoke_config("name=donor", "train.epochs=2"), progress=False)
    checkpoint = donor.history[-1].checkpoint
    own_best = Best("selection_fid", 123.0, 1)
    changed = (
        "name=recipient",
        "train.epochs=3",
        "model.lambda_l1=37",
        "optimizer.learning_rate=1e-3",
    )
    run = TrainingRun(
        smoke_config(*changed), inherit=Inheritance(checkpoint, own_best), progress=False
    )
    assert (run.epochs_done, run.best, run.restored_epochs) == (2, own_best, ())
    # The donor's own state, restored the ordinary way, against the recipient's.
    again = TrainingRun(smoke_config("name=donor", "train.epochs=2"), progress=False)
    assert again.epochs_done == 2
    mine, donors = run.checkpointer.variables(), again.checkpointer.variables()
    assert len(mine) == len(donors) > 0
    for ours, theirs in zip(mine, donors, strict=True):
        if "learning_rate" not in ours.path:  # the recipient's own (below)
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    assert run.start_digest == json.loads((checkpoint / "state.json").read_text())["digest"]
    assert run.checkpointer.digest() != "" and run.start_digest
    for optimizer in run.family.optimizers().values():
        assert float(optimizer.learning_rate) == pytest.approx(1e-3)
        assert int(optimizer.iterations) == donor.history[-1].epoch * run.data.steps_per_epoch
    report = run.run_epoch()
    assert report.epoch == 3 and report.resumed_from == 2

    with pytest.raises(CheckpointError, match="more than the schedulable keys"):
        TrainingRun(
            smoke_config("name=other", "model.base_filters=4"),
            inherit=Inheritance(checkpoint, None),
            progress=False,
        )


def test_nan_loss_stops_the_run_with_its_reason(smoke_config, monkeypatch) -> None:
    original = Pix2Pix.losses

    def poisoned(self, batch):
        losses = original(self, batch)
        return {**losses, "gen_l1": losses["gen_l1"] * float("nan")}

    monkeypatch.setattr(Pix2Pix, "losses", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss gen_l1 became nan at epoch 1, step 1"):
        train(smoke_config(), progress=False)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path: Path, cache_dir: Path) -> None:
    """Kill -9 a `ganime train` process mid-training, resume its run, and compare its final
    weights bit for bit with a run never interrupted (those two train in this process)."""
    common = [
        "data.synthetic.count=80",  # 8 steps an epoch
        "train.epochs=6",
        "train.checkpoint_every=1",
        "train.deterministic=true",
        "train.eval_every=0",
        f"train.output_dir={tmp_path}",
    ]
    uninterrupted = train(load_config(SMOKE, [*common, "name=straight"]), progress=False)
    assert uninterrupted.history[-1].checkpoint.name == "epoch-0006"

    sets = [*common, "name=resumed"]
    victim = subprocess.Popen(
        [*ganime_command(), "train", str(SMOKE), "--no-progress"]
        + [arg for s in sets for arg in ("--set", s)],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = tmp_path / "resumed" / "checkpoints"
    deadline = time.monotonic() + 300
    while not (checkpoints / "epoch-0002").exists():
        assert victim.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert not (checkpoints / "epoch-0006").exists(), "killed too late to test a resume"

    resumed = train(load_config(SMOKE, sets), progress=False)
    assert 2 <= resumed.history[0].resumed_from < 6

    straight = tf.train.load_checkpoint(str(tmp_path / "straight/checkpoints/epoch-0006/ckpt"))
    again = tf.train.load_checkpoint(str(checkpoints / "epoch-0006" / "ckpt"))
    names = straight.get_variable_to_shape_map()
    assert names == again.get_variable_to_shape_map()
    assert any("rng" in name for name in names) and any("optimizer" in name for name in names)
    # Every variable, bit for bit; not the object graph, which spells Keras' layer names, and
    # those count up per process (conv2d_5 in this one, conv2d in the victim's).
    for name in set(names) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}:
        np.testing.assert_array_equal(
            straight.get_tensor(name), again.get_tensor(name), err_msg=name
        )


def test_a_crash_during_a_save_leaves_the_previous_checkpoint_usable(
    smoke_config, monkeypatch
) -> None:
    config = smoke_config("model.base_filters=4")
    family = build_family(config)
    directory = config.run_dir / "checkpoints"
    checkpointer = Checkpointer(directory, family, config, keep=3)
    good = checkpointer.save(1)
    saved = family.generator.get_layer("down2").get_weights()[0].copy()

    family.train_step(random_batch())  # change the weights, then crash while saving them
    original_write = tf.train.Checkpoint.write

    def crash(self, prefix, **kwargs):
        original_write(self, prefix, **kwargs)  # files are on disk, the save is not finished
        raise OSError("disk vanished")

    monkeypatch.setattr(tf.train.Checkpoint, "write", crash)
    with pytest.raises(OSError):
        checkpointer.save(2)
    monkeypatch.undo()

    assert checkpointer.latest() == good
    assert checkpointer.restore(checkpointer.latest()).epochs_completed == 1
    np.testing.assert_array_equal(family.generator.get_layer("down2").get_weights()[0], saved)


def test_restore_rejects_a_folder_that_is_not_a_checkpoint(smoke_config, tmp_path) -> None:
    config = smoke_config("model.base_filters=4")
    family = build_family(config)
    checkpointer = Checkpointer(tmp_path / "c", family, config, keep=1)
    with pytest.raises(CheckpointError, match="not a GANime checkpoint"):
        checkpointer.restore(tmp_path)


def test_pix2pix_step_reports_the_paper_objective(smoke_config) -> None:
    """The step's losses equal the formula applied to the networks' own outputs."""
    config = smoke_config("model.dropout=0", "model.norm=instance", "model.lambda_tv=0.5")
    family = build_family(config)
    batch = random_batch()
    x, y = batch["sketch"], batch["color"]
    fake = family.generator(x, training=True)
    real_logits = family.discriminator([x, y], training=True)
    fake_logits = family.discriminator([x, fake], training=True)
    adv = adversarial_loss(fake_logits, True).numpy().mean()
    l1 = l1_loss(y, fake).numpy().mean()
    tv = total_variation_loss(fake, "l1").numpy().mean()
    losses = {k: float(v) for k, v in family.train_step(batch).items()}
    # The same forward pass; only the batch mean and the weighted sum of nonnegative terms
    # round otherwise (NumPy and Python against float32): a few roundings, about 1e-6.
    assert losses["gen_adv"] == pytest.approx(adv, rel=1e-5)
    assert losses["gen_l1"] == pytest.approx(l1, rel=1e-5)
    assert losses["gen_tv"] == pytest.approx(tv, rel=1e-5)
    assert losses["gen_total"] == pytest.approx(adv + 100 * l1 + 0.5 * tv, rel=1e-5)
    expected_disc = pix2pix_discriminator_loss(real_logits, fake_logits).numpy().mean()
    assert losses["disc_total"] == pytest.approx(expected_disc, rel=1e-5)


@pytest.fixture
def cyclegan_config(tmp_path: Path, cache_dir: Path):
    """experiments/cyclegan.yaml shrunk to the smoke size."""

    def load(*overrides: str):
        small = [
            "data.image_size=32",
            "data.synthetic.count=200",
            "model.base_filters=16",
            "train.epochs=1",
            "train.eval_every=0",  # the paper's config measures with ImageNet weights only
            f"train.output_dir={tmp_path / 'runs'}",
        ]
        return load_config(EXPERIMENTS / "cyclegan.yaml", [*small, *overrides])

    return load


def test_cyclegan_step_reports_the_paper_objective_and_updates_all_four_networks(
    cyclegan_config,
) -> None:
    config = cyclegan_config("model.dropout=0")
    family = build_family(config)
    batch = random_batch()
    x, y = batch["sketch"], batch["color"]
    G, F = family.generator, family.generator_f  # noqa: N806
    fake_y, fake_x = G(x, training=True), F(y, training=True)
    cycle = cycle_consistency_loss(x, F(fake_y, training=True), y, G(fake_x, training=True))
    identity_g = l1_loss(y, G(y, training=True))
    adv_g = adversarial_loss(family.discriminator_y(fake_y, training=True), True)
    disc_x = cyclegan_discriminator_loss(
        family.discriminator_x(x, training=True), family.discriminator_x(fake_x, training=True)
    )
    before = {name: net.get_weights()[0].copy() for name, net in family.networks().items()}

    losses = {k: float(v) for k, v in family.train_step(batch).items()}

    # As for Pix2Pix: the same forward passes; means of nonnegative losses round otherwise.
    assert losses["cycle"] == pytest.approx(cycle.numpy().mean(), rel=1e-5)
    assert losses["identity_g"] == pytest.approx(identity_g.numpy().mean(), rel=1e-5)
    expected_g = adv_g.numpy().mean() + 10 * cycle.numpy().mean() + 5 * identity_g.numpy().mean()
    assert losses["gen_g_total"] == pytest.approx(expected_g, rel=1e-5)
    assert losses["disc_x"] == pytest.approx(disc_x.numpy().mean(), rel=1e-5)
    for name, net in family.networks().items():
        assert not np.array_equal(net.get_weights()[0], before[name]), f"{name} was not updated"


def test_cyclegan_trains_on_unpaired_samples(cyclegan_config) -> None:
    result = train(cyclegan_config(), progress=False)
    assert set(result.history[0].losses) >= {
        "gen_g_total",
        "gen_f_total",
        "cycle",
        "disc_x",
        "disc_y",
    }
    assert all(np.isfinite(v) for v in result.history[0].losses.values())


def test_a_checkpoint_folder_alone_rebuilds_its_model(smoke_config) -> None:
    """Evaluation, promotion and Ray Train restore a checkpoint without the run's other files."""
    config = smoke_config("train.epochs=1", "model.base_filters=4")
    trained = {}
    result = train(
        config,
        progress=False,
        on_epoch_end=lambda report, family: trained.update(weights=family.generator.get_weights()),
    )
    checkpoint = result.history[-1].checkpoint
    (result.run_dir / "config.yaml").unlink()

    for path in (checkpoint, result.run_dir):  # the folder itself, or the run's newest
        config_back, family, epochs = open_checkpoint(path)
        assert config_back == config and epochs == 1
        for restored, saved in zip(family.generator.get_weights(), trained["weights"], strict=True):
            np.testing.assert_array_equal(restored, saved)
    with pytest.raises(CheckpointError, match="no GANime checkpoint here"):
        open_checkpoint(result.run_dir / "samples")
