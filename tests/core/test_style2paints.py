"""Style2paints V1 as a model family: its training, its references, its resume, its guides."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganime_core.checkpoint import open_checkpoint
from ganime_core.colorizers import ReferenceMissing
from ganime_core.data.pipeline import TrainingData
from ganime_core.families import build_family
from ganime_core.metrics import names
from ganime_core.train import TrainingRun, train
from tests.conftest import STYLE2PAINTS_SMOKE, run_on_two_cpus

pytestmark = pytest.mark.usefixtures("cache_dir")


def first_batch(config, epoch: int = 0) -> dict[str, tf.Tensor]:
    return next(iter(TrainingData(config).train_dataset(epoch)))


@pytest.mark.slow
def test_training_lowers_the_l1_evaluates_under_both_references_and_resumes_exactly(
    style2paints_config, tmp_path
) -> None:
    config = style2paints_config(
        "data.synthetic.count=25",  # 20 in train/: 16 train, 4 selection (the grid's rows)
        "data.selection=4",
        "train.deterministic=true",
        "train.eval_epochs=[3]",
        "train.epochs=3",
        f"train.output_dir={tmp_path / 'a'}",
    )
    result = train(config, progress=False)
    painting_l1 = [report.losses["painting_l1"] for report in result.history]
    # 12 steps of 4: every epoch lower, about 4% each (0.739, 0.706, 0.674 when written)
    assert painting_l1 == sorted(painting_l1, reverse=True), painting_l1
    assert painting_l1[-1] < 0.95 * painting_l1[0], painting_l1
    assert set(result.history[0].losses) == {
        "gen_total",
        "gen_adv",
        "gen_l1",
        "painting_l1",
        "disc_total",
    }
    # sketch | reference | painting | target: the grid shows what each painting was given
    assert Image.open(result.history[-1].sample_grid).size == (4 * 32, 4 * 32)

    last = result.history[-1]
    metrics = last.metrics()
    standins = (names.INCEPTION, names.VGG19)  # both stand-ins: both marked, SSIM by VGG19's
    seeded = metrics[names.metric_name(names.FID, "selection", standins)]
    oracle = metrics[names.metric_name(names.FID, "selection", standins, "ground_truth")]
    assert np.isfinite(seeded) and np.isfinite(oracle) and seeded != oracle
    assert {
        "selection_ssim_untrained_vgg19",
        "selection_gt_ref_ssim_untrained_vgg19",
        "selection_gt_ref_kid_mean_untrained_inception_vgg19",
    } <= set(metrics)
    assert last.evaluation.reference == "random_train"
    assert last.ground_truth_evaluation.reference == "ground_truth"
    assert last.best.name == names.metric_name(names.FID, "selection", standins)  # seeded draw

    # Resumed from the run's epoch-2 checkpoint elsewhere: the same weights at epoch 3.
    resumed = TrainingRun(
        style2paints_config(
            "data.synthetic.count=25",  # 20 in train/: 16 train, 4 selection (the grid's rows)
            "data.selection=4",
            "train.deterministic=true",
            "train.epochs=3",
            f"train.output_dir={tmp_path / 'b'}",
        ),
        resume_from=config.run_dir / "checkpoints" / "epoch-0002",
        progress=False,
    )
    assert resumed.resumed_from == 2
    resumed.run()
    _, a, _ = open_checkpoint(result.run_dir)
    _, b, epochs = open_checkpoint(resumed.config.run_dir)
    assert epochs == 3
    for name in ("generator", "discriminator"):
        for x, y in zip(
            a.networks()[name].get_weights(), b.networks()[name].get_weights(), strict=True
        ):
            np.testing.assert_array_equal(x, y)


def test_vgg19_is_frozen_in_no_optimizer_or_checkpoint_and_unchanged_by_training(
    style2paints_config,
) -> None:
    config = style2paints_config()
    family = build_family(config)
    before = [w.copy() for w in family.hint_encoder.get_weights()]
    assert not family.hint_encoder.trainable_variables
    for step in range(2):
        family.train_step(first_batch(config, step))
    for after, initial in zip(family.hint_encoder.get_weights(), before, strict=True):
        np.testing.assert_array_equal(after, initial)
    held = {id(v) for item in family.checkpoint_items().values() for v in _variables(item)}
    assert not held & {id(v) for v in family.hint_encoder.weights}
    assert family.model_files() == {}  # a stand-in VGG19 is rebuilt, not logged


def _variables(item) -> list:
    if isinstance(item, list):
        return item
    return list(getattr(item, "variables", []))


def test_one_sketch_after_two_references_gives_two_paintings_after_a_few_steps(
    style2paints_config,
) -> None:
    config = style2paints_config()
    family = build_family(config)
    for step in range(3):
        family.train_step(first_batch(config, step))
    batch = first_batch(config)
    sketch = tf.repeat(batch["sketch"][:1], 2, axis=0)
    references = batch["color"][:2]
    colorizer = family.colorizer()
    paintings = colorizer(sketch, references).numpy()
    assert np.abs(paintings[0] - paintings[1]).mean() > 1e-3
    with pytest.raises(ReferenceMissing, match="style2paints colorizes a sketch after a ref"):
        colorizer(sketch)


def test_the_mid_level_gets_gradient_with_the_guide_decoders(style2paints_config) -> None:
    config = style2paints_config()
    family = build_family(config)
    variables = family.mid_level_variables()
    names_ = {v.path.split("/")[0] for v in variables}
    assert {"mid_entry_conv", "hint_dense", "mid1_reduce"} <= names_
    norm = float(family.mid_level_gradient_norm(first_batch(config)))
    assert np.isfinite(norm) and norm > 0


REPLICAS_AGREE = textwrap.dedent(
    """
    import sys

    import tensorflow as tf

    from ganime_core.checkpoint import open_checkpoint
    from ganime_core.config import load_config
    from ganime_core.train import train
    from tests.tolerances import AdamRun

    source, folder, *overrides = sys.argv[1:]


    def trained(name, strategy=None):
        config = load_config(source, [*overrides, f"train.output_dir={folder}/{name}"])
        return open_checkpoint(train(config, strategy=strategy, progress=False).run_dir)[1]


    one = trained("one")
    two = trained("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    # Two replicas sum each gradient in another order than one: how far that can take the
    # weights follows from the steps taken and the longest float32 sum of a step, VGG19's fc1
    # (7 x 7 x 512 terms) computing the hint (tests/tolerances.py).
    steps = int(one.optimizers()["generator_optimizer"].iterations)
    run = AdamRun.of(one.config.optimizer, steps=steps, terms=7 * 7 * 512)
    for name in ("generator", "discriminator"):
        run.assert_networks_alike(two.networks()[name].weights, one.networks()[name].weights)
    print("AGREE")
    """
)


@pytest.mark.slow
def test_two_replicas_reach_the_weights_of_one_with_the_global_batch(tmp_path) -> None:
    """Style2paints' frozen VGG19 hint, per-example AC-GAN loss and InstanceNorm split over two
    replicas as over one (the Ray Train path, which only adds workers and shards their input,
    is proven for Pix2Pix in tests/orchestration/test_distributed.py)."""
    overrides = (
        "data.synthetic.count=10",  # 8 train images: 2 steps of 4
        "train.deterministic=true",
        "train.epochs=1",
    )
    stdout = run_on_two_cpus(
        REPLICAS_AGREE, str(STYLE2PAINTS_SMOKE), str(tmp_path), *overrides, folder=tmp_path
    )
    assert stdout.splitlines()[-1] == "AGREE"


@pytest.mark.parametrize("discriminator", ["acgan", "dcgan"])
def test_both_discriminators_train_and_only_the_acgan_regresses_onto_fc1(
    style2paints_config, discriminator: str
) -> None:
    config = style2paints_config(f"model.discriminator={discriminator}")
    family = build_family(config)
    outputs = family.discriminator.output.shape[-1]
    assert outputs == (4096 if discriminator == "acgan" else 1)
    before = family.discriminator.get_weights()[0].copy()
    losses = family.train_step(first_batch(config))
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert not np.array_equal(family.discriminator.get_weights()[0], before)


def test_a_jittered_reference_trains_with_the_acgan_target_taken_from_the_colour_image(
    style2paints_config, monkeypatch
) -> None:
    """With a jittered reference, V(r) feeds the generator and V(y) of the colour image is the
    AC-GAN's target: two fc1 passes, on two different images."""
    config = style2paints_config("model.training_reference=jittered")
    family = build_family(config)
    batch = first_batch(config)
    seen = []
    encoder = family.hint_encoder
    monkeypatch.setattr(
        family, "hint_encoder", lambda images, **kw: seen.append(images) or encoder(images, **kw)
    )
    losses = family.train_step(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())
    reference, color = (np.asarray(images) for images in seen)
    np.testing.assert_array_equal(reference, batch["reference"])
    np.testing.assert_array_equal(color, batch["color"])


def test_the_training_reference_is_the_colour_or_a_moved_copy_of_it(style2paints_config) -> None:
    own = first_batch(style2paints_config())
    np.testing.assert_array_equal(own["reference"], own["color"])

    config = style2paints_config("model.training_reference=jittered")
    jittered, again = first_batch(config), first_batch(config)
    np.testing.assert_array_equal(jittered["reference"], again["reference"])  # seeded
    reference, color = jittered["reference"].numpy(), jittered["color"].numpy()
    assert reference.shape == color.shape and np.abs(reference).max() <= 1.0
    assert np.abs(reference - color).mean() > 0.02  # not pixel-aligned with the target
    other_epoch = first_batch(config, epoch=1)["reference"].numpy()
    assert not np.array_equal(other_epoch, reference)
