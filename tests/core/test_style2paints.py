"""Style2paints V1 as a model family: its training, its references, its resume, its guides."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganime_core import hints as hints_module
from ganime_core.checkpoint import open_checkpoint
from ganime_core.colorizers import ReferenceMissing
from ganime_core.data.annotations import Annotations
from ganime_core.data.pipeline import TrainingData, to_float, to_uint8
from ganime_core.data.synth import PALETTE_PARTS, write_synthetic_dataset
from ganime_core.describe import describe
from ganime_core.errors import ConfigError, DataError
from ganime_core.families import build_family
from ganime_core.families import style2paints as style2paints_module
from ganime_core.hints import (
    PALETTE_FEATURES,
    THUMBNAIL_FEATURES,
    THUMBNAIL_SIZE,
    colour_thumbnail,
)
from ganime_core.metrics import names
from ganime_core.pretrained import standins
from ganime_core.train import TrainingRun, train
from tests.support.paths import STYLE2PAINTS_SMOKE
from tests.support.processes import run_on_two_cpus
from tests.support.tolerances import assert_close_in_norm, forward_rtol

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
    # 12 steps of 4: every epoch lower, about 4% each (0.749, 0.717, 0.685 when written)
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


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
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


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
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


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
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
    from tests.support.tolerances import AdamRun

    source, folder, *overrides = sys.argv[1:]


    def trained(name, strategy=None):
        config = load_config(source, [*overrides, f"train.output_dir={folder}/{name}"])
        return open_checkpoint(train(config, strategy=strategy, progress=False).run_dir)[1]


    one = trained("one")
    two = trained("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    # Two replicas sum each gradient in another order than one: how far that can take the
    # weights follows from the steps taken and the longest float32 sum of a step, VGG19's fc1
    # (7 x 7 x 512 terms) computing the hint (tests/support/tolerances.py).
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
    is proven for Pix2Pix in tests/orchestration/training/test_distributed.py)."""
    overrides = (
        "data.synthetic.count=10",  # 8 train images: 2 steps of 4
        "train.deterministic=true",
        "train.epochs=1",
    )
    stdout = run_on_two_cpus(
        REPLICAS_AGREE, str(STYLE2PAINTS_SMOKE), str(tmp_path), *overrides, folder=tmp_path
    )
    assert stdout.splitlines()[-1] == "AGREE"


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
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


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
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


# A painting is written as uint8: to_uint8 rounds (x + 1) * 127.5, so it moves each value by at
# most half a level, 1/255 in [-1, 1]. A mean difference above that is not one rounding could
# make or hide: the two hints give paintings that differ as images.
HALF_AN_8_BIT_LEVEL = 1 / 255


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
@pytest.mark.parametrize(
    ("hint", "injection"),
    [
        ("vgg19_fc1", "add"),
        ("vgg19_fc1", "film_mid"),
        ("vgg19_fc1", "film_all"),
        ("colour_thumbnail", "film_all"),  # the control measured with: FiLM everywhere
    ],
)
def test_two_hints_give_two_paintings_at_initialization_and_after_three_steps(
    style2paints_config, hint: str, injection: str
) -> None:
    """The hint path is alive in every hint_injection mode. The references are two flat
    colours (red and blue), the sketch one drawing of the batch: only the hint differs."""
    config = style2paints_config(f"model.hint={hint}", f"model.hint_injection={injection}")
    family = build_family(config)
    sketch = tf.repeat(first_batch(config)["sketch"][:1], 2, axis=0)
    references = tf.constant([[[[1.0, -1.0, -1.0]]], [[[-1.0, -1.0, 1.0]]]]) * tf.ones_like(sketch)
    colorizer = family.colorizer()
    differences = []
    for step in range(4):  # at initialization, then after 3 train steps
        paintings = colorizer(sketch, references).numpy()
        differences.append(float(np.abs(paintings[0] - paintings[1]).mean()))
        if step < 3:
            family.train_step(first_batch(config, step))
    # (0.030 to 0.038 at initialization, 0.012 to 0.018 after three steps, when written)
    assert min(differences) > HALF_AN_8_BIT_LEVEL, differences


# 8 files in train/ (6 train, 2 selection): VGG19 at 224 px fills a table of 8 rows.
FEW_FILES = ("data.synthetic.count=10",)


def _count_calls(monkeypatch, family) -> list[tf.Tensor]:
    """The images every later call of family.hint_encoder gets, in order."""
    seen: list[tf.Tensor] = []
    encoder = family.hint_encoder
    monkeypatch.setattr(
        family, "hint_encoder", lambda images, **kw: seen.append(images) or encoder(images, **kw)
    )
    return seen


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
@pytest.mark.parametrize("reference", ["own", "same_palette"])
def test_cached_hints_are_vgg19_of_the_batchs_references_without_running_it(
    style2paints_config, monkeypatch, reference: str
) -> None:
    """With unjittered data the table's rows are V of the very images a step would encode:
    the losses agree with VGG19 run per step, and the step runs it no more."""
    config = style2paints_config(
        f"model.training_reference={reference}", "data.jitter=false", *FEW_FILES
    )
    family = build_family(config)
    data = TrainingData(config)
    batch = first_batch(config)
    key = batch["key"].numpy()
    # The pipeline's contract: row `key` of the pool is the batch's reference, unjittered.
    files = data.reference_pool("reference")  # every file of train/, selection's included
    np.testing.assert_array_equal(to_float(files[key]), batch["reference"])
    uncached_hints = [h.numpy() for h in family.hints(batch)]
    uncached = family.losses(batch)
    # The losses are a forward pass through VGG19, then the generator and the discriminator
    # on what it gave: their layers' depth, the longest sum fc1's 7 * 7 * 512 terms.
    kernels = [
        w
        for network in (family.hint_encoder, family.generator, family.discriminator)
        for w in network.weights
        if w.ndim in (2, 4)
    ]
    rtol = forward_rtol(depth=len(kernels), fan_in=7 * 7 * 512)

    family.precompute(data)
    tables = {kind: table.shape for kind, table in family.hint_tables.items()}
    expected_kinds = {"reference"} if reference == "own" else {"reference", "color"}
    assert tables == dict.fromkeys(expected_kinds, (len(files), 4096))
    assert all(not table.trainable for table in family.hint_tables.values())
    held = {id(v) for item in family.checkpoint_items().values() for v in _variables(item)}
    assert not held & {id(t) for t in family.hint_tables.values()}
    assert dict((m.name, passes) for m, passes, _ in family.step_passes())["vgg19_fc1"] == 0
    seen = _count_calls(monkeypatch, family)
    cached_hints = [h.numpy() for h in family.hints(batch)]
    cached = family.losses(batch)
    assert seen == []  # VGG19 does not run in a step

    # The table was filled HINT_TABLE_BATCH images at a time, the step encodes its batch: the
    # same computation, whose sums oneDNN may order otherwise by batch size. VGG19 is 16
    # convolutions and fc1, whose longest sum has 7 * 7 * 512 terms.
    vgg_rtol = forward_rtol(depth=17, fan_in=7 * 7 * 512)  # 0.026
    for name, got, want in zip(("V(r)", "V(y)"), cached_hints, uncached_hints, strict=True):
        for row in range(len(key)):
            assert_close_in_norm(got[row], want[row], vgg_rtol, f"{name} row {row}")
            # ... and each row is its own example's, not a neighbour's (those are ~15% apart)
            distances = np.linalg.norm(want - got[row], axis=1)
            assert np.argmin(distances) == row
    for name, value in uncached.items():
        assert_close_in_norm(cached[name], value, rtol, name)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_the_hint_table_is_read_from_disk_by_the_next_run(
    style2paints_config, monkeypatch, cache_dir
) -> None:
    config = style2paints_config("data.jitter=false", *FEW_FILES)
    data = TrainingData(config)
    encoded = []
    encode_pool = style2paints_module.encode_pool
    monkeypatch.setattr(
        style2paints_module,
        "encode_pool",
        lambda encoder, images, width: (
            encoded.append(len(images)) or encode_pool(encoder, images, width)
        ),
    )
    files = len(data.reference_pool("reference"))
    first = build_family(config)
    first.precompute(data)
    assert encoded == [files]  # own: one table, every file of train/ once
    (cached,) = (cache_dir / "hints").iterdir()
    assert cached == first.hint_cache_path(data, "reference")

    second = build_family(config)
    second.precompute(TrainingData(config))
    assert encoded == [files]  # not computed again
    np.testing.assert_array_equal(
        second.hint_tables["reference"].numpy(), first.hint_tables["reference"].numpy()
    )


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_a_jittered_reference_is_encoded_every_step(style2paints_config, monkeypatch) -> None:
    """A new crop, mirror and hue every epoch: nothing to cache, VGG19 runs on the batch."""
    config = style2paints_config("model.training_reference=jittered")
    family = build_family(config)
    family.precompute(TrainingData(config))
    assert family.hint_tables == {}
    batch = first_batch(config)
    assert "key" not in batch
    passes = dict((m.name, passes) for m, passes, _ in family.step_passes())
    assert passes["vgg19_fc1"] == 2  # V(r) and V(y)
    seen = _count_calls(monkeypatch, family)
    family.losses(batch)
    assert len(seen) == 2


RED, BLUE = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)


@pytest.mark.parametrize("size", [32, 36])
def test_the_colour_thumbnail_is_each_cells_mean_colour(size: int) -> None:
    """A flat image gives its colour in every cell; an image red on the left half and blue on
    the right gives red in the left 4 columns of cells and blue in the right 4, at a size that
    splits into 8 cells evenly (32) and one that does not (36: area weights, the halves still
    on whole cells). Frozen, 192 wide."""
    encoder = colour_thumbnail()
    assert encoder.output.shape[-1] == THUMBNAIL_FEATURES == 192
    assert not encoder.trainable_variables
    flat = np.ones((1, size, size, 3), np.float32) * np.float32([0.2, -0.6, 0.9])
    half = np.empty((1, size, size, 3), np.float32)
    half[:, :, : size // 2], half[:, :, size // 2 :] = RED, BLUE
    cells = encoder(np.concatenate([flat, half])).numpy().reshape(2, 8, 8, 3)
    # An area mean of equal values: their value, up to float32 rounding of the weights' sum.
    np.testing.assert_allclose(cells[0], np.broadcast_to([0.2, -0.6, 0.9], (8, 8, 3)), atol=1e-6)
    left, right = cells[1, :, : THUMBNAIL_SIZE // 2], cells[1, :, THUMBNAIL_SIZE // 2 :]
    np.testing.assert_allclose(left, np.broadcast_to(RED, left.shape), atol=1e-6)
    np.testing.assert_allclose(right, np.broadcast_to(BLUE, right.shape), atol=1e-6)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_a_colour_thumbnail_style2paints_never_asks_for_vgg19_and_carries_no_vgg19_mark(
    style2paints_config, monkeypatch
) -> None:
    """hint colour_thumbnail: no VGG19 file is looked for, nothing stands in (so the metrics
    are not marked _untrained_vgg19, as the driver names them beforehand), the generator and
    the AC-GAN take 192 values, the hint table is 192 wide and keyed apart from fc1's."""

    def no_vgg19(*args, **kwargs):
        raise AssertionError("colour_thumbnail asked for VGG19's weights")

    monkeypatch.setattr(hints_module, "vgg19_weights", no_vgg19)
    config = style2paints_config("model.hint=colour_thumbnail", "data.jitter=false", *FEW_FILES)
    assert names.VGG19 not in standins(config)
    assert names.VGG19 in standins(style2paints_config())  # the stand-in fc1's: marked
    family = build_family(config)
    assert family.hint_encoder.name == "colour_thumbnail"
    assert family.generator.get_layer("hint").output.shape[-1] == THUMBNAIL_FEATURES
    assert family.discriminator.output.shape[-1] == THUMBNAIL_FEATURES  # acgan: one per value
    colorizer = family.colorizer()
    assert colorizer.pretrained  # no stand-in took part: metrics unmarked
    assert family.model_files() == {}  # nothing to log beside the generator

    data = TrainingData(config)
    family.precompute(data)
    files = len(data.reference_pool("reference"))
    assert family.hint_tables["reference"].shape == (files, THUMBNAIL_FEATURES)
    batch = first_batch(config)
    np.testing.assert_allclose(  # a row is the thumbnail of the batch's reference
        family.hints(batch)[0], family.encode(batch["reference"]), atol=1e-6
    )
    losses = family.train_step(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())

    # The table's key holds the hint kind: fc1's table for the same images is another file.
    monkeypatch.undo()
    fc1 = build_family(style2paints_config("data.jitter=false", *FEW_FILES))
    assert fc1.hint_cache_path(data, "reference") != family.hint_cache_path(data, "reference")

    described = describe(config)  # `ganime describe`: Fig. 2's blocks, a 192-wide hint input
    assert described["figure_shapes"] == family.figure_shapes()
    assert described["figure_shapes"] == fc1.figure_shapes()
    assert described["networks"]["generator"]["input_shapes"][1] == [None, THUMBNAIL_FEATURES]


PALETTE_DATA = ("data.synthetic.palette=free", "data.jitter=false", *FEW_FILES)


def test_an_annotated_palette_style2paints_hints_with_the_parts_its_reference_shows(
    style2paints_config, monkeypatch
) -> None:
    """hint annotated_palette: the hint of a same-palette reference is its palette's colour of
    each part the reference shows (0 elsewhere) and a +-1 flag per part; the generator and the
    AC-GAN take its 32 values; no VGG19 is looked for or marked; the data set's palettes.json
    is what the model logs beside the generator; training references are cached like fc1's."""

    def no_vgg19(*args, **kwargs):
        raise AssertionError("annotated_palette asked for VGG19's weights")

    monkeypatch.setattr(hints_module, "vgg19_weights", no_vgg19)
    config = style2paints_config(
        "model.hint=annotated_palette", "model.training_reference=same_palette", *PALETTE_DATA
    )
    assert names.VGG19 not in standins(config)
    family = build_family(config)
    data = TrainingData(config)
    assert family.model_files() == {"weights": data.root / "palettes.json"}
    assert family.generator.get_layer("hint").output.shape[-1] == PALETTE_FEATURES == 32
    assert family.discriminator.output.shape[-1] == PALETTE_FEATURES
    assert family.colorizer().pretrained

    batch = first_batch(config)
    hint = family.encode(batch["reference"]).numpy()
    colours, flags = hint[:, :24].reshape(-1, len(PALETTE_PARTS), 3), hint[:, 24:]
    annotations = Annotations.of(data.root)
    keys = batch["key"].numpy()
    files = data.folder("train")[0].files
    palettes = annotations.palettes("train", [files[key] for key in keys])
    references = to_uint8(batch["reference"]).numpy()
    for row in range(len(keys)):
        shown = flags[row] > 0
        assert set(np.unique(flags[row])) <= {-1.0, 1.0} and shown.any()
        # 8-bit codes: /127.5 - 1 is exact to float32 rounding
        np.testing.assert_allclose(colours[row][shown], palettes[row][shown] / 127.5 - 1, atol=1e-6)
        assert not colours[row][~shown].any()
        for part in np.flatnonzero(shown):  # a shown part's colour is in the reference
            assert (references[row] == palettes[row][part]).all(axis=-1).sum() >= 4

    family.precompute(data)
    assert family.hint_tables["reference"].shape == (len(files), PALETTE_FEATURES)
    np.testing.assert_allclose(family.hints(batch)[0], hint, atol=1e-6)
    losses = family.train_step(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())

    # A reference from elsewhere (any other image) is refused in one line.
    with pytest.raises(DataError, match="shows no palette of this data set") as refused:
        family.colorizer()(batch["sketch"][:1], tf.zeros_like(batch["sketch"][:1]))
    assert "\n" not in str(refused.value)


def test_an_annotated_palette_needs_generated_data_and_cached_references(
    style2paints_config, tmp_path
) -> None:
    with pytest.raises(ConfigError, match="jittered reference has none"):
        style2paints_config("model.hint=annotated_palette", "model.training_reference=jittered")
    folder = tmp_path / "kaggle"  # paired files, no palettes.json
    write_synthetic_dataset(folder, 10, 32, 0)
    (folder / "palettes.json").unlink()
    config = style2paints_config("model.hint=annotated_palette", f"data.path={folder}")
    with pytest.raises(DataError, match="has no palettes.json") as refused:
        build_family(config)
    assert "\n" not in str(refused.value)
    build_family(config, pretrained=False)  # shapes only (`ganime describe`): no data read
