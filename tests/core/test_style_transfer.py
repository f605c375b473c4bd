"""The reference-based baselines: NST's losses and optimization, Fast NST through TF Hub's
loader, the one colorizer surface over every method, and the seeded reference draw.

NST runs on the seeded untrained VGG19 stand-in (no ImageNet weights on this machine) at 32 px
for a few steps; Fast NST on a tiny SavedModel with the magenta model's signature whose output
is a known formula of its inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from ganime_core import assets
from ganime_core.assets import VGG19, AssetError, inspect_asset
from ganime_core.colorizers import (
    GeneratorColorizer,
    ReferenceMissing,
    StyleTransferColorizer,
)
from ganime_core.config import (
    ExperimentConfig,
    FastNSTSettings,
    NSTSettings,
    parse_config,
)
from ganime_core.data.pipeline import LEFT, TrainingData
from ganime_core.errors import GanimeError
from ganime_core.families import build_colorizer
from ganime_core.style_transfer import (
    FastStyleTransfer,
    NeuralStyleTransfer,
    content_loss,
    gram_matrix,
    style_loss,
)
from ganime_core.vgg import vgg19_features
from tests.support.tolerances import AdamRun, gamma

SIZE = 32
STYLE_SIZE = 16  # Fast NST's references are resized to this square


def nst_settings(steps: int) -> NSTSettings:
    return NSTSettings(family="nst", steps=steps, allow_untrained_vgg=True)


# --- the losses -----------------------------------------------------------------------------


def test_gram_matrix_sums_the_outer_products_over_positions_divided_by_the_positions() -> None:
    # (1, 2, 2, 2): positions (0,0) (0,1) (1,0) (1,1) hold channel vectors [1,2] [3,4] [5,6] [7,8]
    features = np.array([[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]], np.float32)
    # By hand: G00 = (1+9+25+49)/4 = 21, G01 = (2+12+30+56)/4 = 25, G11 = (4+16+36+64)/4 = 30
    np.testing.assert_allclose(gram_matrix(tf.constant(features)), [[[21, 25], [25, 30]]])

    # A batch of 2 with h != w and 3 channels, against the definition written out.
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    expected = np.zeros((2, 3, 3), np.float32)
    for b in range(2):
        for i in range(1):
            for j in range(3):
                expected[b] += np.outer(features[b, i, j], features[b, i, j])
    expected /= 1 * 3  # h * w
    # Both float32 sums of 3 products, in orders of their own: each within gamma(3) of the
    # products' size (an off-diagonal entry may cancel to near zero, so no relative bound).
    atol = 2 * gamma(3) * float(np.abs(features).max()) ** 2
    np.testing.assert_allclose(gram_matrix(tf.constant(features)), expected, atol=atol)


def test_style_loss_is_the_weight_over_the_layers_times_the_summed_gram_mses_per_image() -> None:
    base2 = np.array([[[0.5, -1.0], [2.0, 0.0]]] * 2, np.float32)  # (b=2, 2, 2)
    base3 = np.arange(18, dtype=np.float32).reshape(2, 3, 3) / 7  # (b=2, 3, 3)
    diff2 = np.array([[[1, 0], [0, 1]], [[2, 2], [2, 2]]], np.float32)
    diff3 = np.zeros((2, 3, 3), np.float32)
    diff3[0] = 1.0
    diff3[1, 2, 1] = 3.0
    grams = [tf.constant(base2 + diff2), tf.constant(base3 + diff3)]
    targets = [tf.constant(base2), tf.constant(base3)]
    # Image 0: MSEs 2/4 = 0.5 and 9/9 = 1; image 1: 16/4 = 4 and 9/9 = 1. Weight 3 over 2 layers.
    expected = [3.0 / 2 * (0.5 + 1.0), 3.0 / 2 * (4.0 + 1.0)]  # 2.25, 7.5

    loss = style_loss(grams, targets, weight=3.0)
    assert loss.shape == (2,)
    # float32 means of at most 9 nonnegative squares: within gamma(9) plus a few roundings
    # (1e-6) of the exact value, for any summation order.
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_content_loss_is_the_weight_over_the_layers_times_the_summed_map_mses_per_image() -> None:
    base1 = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 2, 2, 1)  # (b=2, 2, 2, 1)
    base2 = np.full((2, 1, 1, 3), 0.25, np.float32)  # (b=2, 1, 1, 3)
    diff1 = np.stack([np.full((2, 2, 1), 2.0), np.full((2, 2, 1), 1.0)]).astype(np.float32)
    diff2 = np.array([[[[3, 0, 0]]], [[[0, 0, 0]]]], np.float32)
    features = [tf.constant(base1 + diff1), tf.constant(base2 + diff2)]
    targets = [tf.constant(base1), tf.constant(base2)]
    # Image 0: MSEs 16/4 = 4 and 9/3 = 3; image 1: 4/4 = 1 and 0. Weight 10 over 2 layers.
    expected = [10.0 / 2 * (4.0 + 3.0), 10.0 / 2 * (1.0 + 0.0)]  # 35, 5

    loss = content_loss(features, targets, weight=10.0)
    assert loss.shape == (2,)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


# --- NST --------------------------------------------------------------------------------------


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_nst_lowers_its_loss_and_moves_the_image_away_from_the_sketch_within_0_1() -> None:
    # A smooth sketch-like content and a busy reference, as a sketch and a colour image are
    # (on white noise for both, the untrained stand-in's content term, zero at the start, outgrows
    # the style term after Adam's first step at the paper's weights, and the loss first rises).
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    content = tf.image.resize(coarse, [SIZE, SIZE]).numpy()
    style = rng.uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    nst = NeuralStyleTransfer(nst_settings(steps=12), weights=None)
    assert not nst.pretrained

    result = nst.stylize(content, style).numpy()

    assert len(nst.losses) == 12
    assert nst.losses[-1] < 0.95 * nst.losses[0], nst.losses
    assert nst.losses[-1] == min(nst.losses), nst.losses
    assert result.shape == content.shape
    assert result.min() >= 0.0 and result.max() <= 1.0
    assert np.abs(result - content).mean() > 1e-3  # it moved

    nst.stylize(content, style, steps=3)  # the call's own step count wins over the settings'
    assert len(nst.losses) == 3


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_nst_of_a_batch_equals_nst_of_each_pair_alone() -> None:
    rng = np.random.default_rng(2)
    content = rng.uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    style = rng.uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    batched, alone = (NeuralStyleTransfer(nst_settings(steps=6), weights=None) for _ in "ab")
    for mine, theirs in zip(
        batched.extractor.get_weights(), alone.extractor.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)  # the seeded stand-in: the same VGG19

    together = batched.stylize(content, style).numpy()
    one_by_one = np.concatenate(
        [alone.stylize(content[i : i + 1], style[i : i + 1]).numpy() for i in range(3)]
    )

    # A batch may sum in another order than one image (oneDNN picks kernels by batch size):
    # how far 6 Adam steps on the pixels can then drift apart, VGG19's widest sum being
    # 3 x 3 x 512 terms, is AdamRun's bound (tests/support/tolerances.py; styles paired with the
    # wrong images land 5 times beyond it, the same order lands on the same bits here).
    run = AdamRun.of(batched.settings, steps=6, terms=3 * 3 * 512)
    moved = np.sqrt(np.mean((together - content) ** 2))
    assert moved > 2 * run.rms_per_element, moved  # beyond what the bound lets differ
    run.assert_alike(together, one_by_one, name="batched images")


def test_the_untrained_vgg19_stand_in_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    layers = ("block1_conv1", "block3_conv1", "block5_conv2")
    images = tf.constant(
        np.random.default_rng(3).uniform(-100, 100, (1, SIZE, SIZE, 3)), tf.float32
    )
    tf.random.set_seed(1234)  # whatever ran before, the stand-in does not depend on it
    first = [out.numpy() for out in vgg19_features(layers, None)(images)]
    tf.random.set_seed(5678)
    again = [out.numpy() for out in vgg19_features(layers, None)(images)]
    other = [out.numpy() for out in vgg19_features(layers, None, seed=1)(images)]

    assert [out.shape for out in first] == [(1, 32, 32, 64), (1, 8, 8, 256), (1, 2, 2, 512)]
    for mine, theirs in zip(first, again, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(first, other, strict=True):
        assert not np.allclose(mine, theirs)


# --- Fast NST ---------------------------------------------------------------------------------


def stand_in_formula(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """What the stand-in model returns, clipped as Fast NST clips: the content pushed around,
    each image's style mean colour, and the style's height + width / 1000 (so a style that was
    not resized shows)."""
    palette = style.mean(axis=(1, 2), keepdims=True)
    size = (style.shape[1] + style.shape[2]) / 1000
    return np.clip(1.5 * content - 0.25 + 0.5 * palette + size, 0.0, 1.0)


def magenta_like_saved_model(folder: Path) -> Path:
    """A SavedModel called like magenta's arbitrary-image-stylization-v1-256 (same input names,
    any batch and sizes, a list of one image out) computing `stand_in_formula` unclipped.

    tests/support/asset_server.stylization_saved_model fixes the batch at 1 and the style at 256 px,
    so it cannot take the batch of 2 and the 16 px style used here."""

    class Stylization(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float32, name="placeholder"),
                tf.TensorSpec([None, None, None, 3], tf.float32, name="placeholder_1"),
            ]
        )
        def __call__(self, content: tf.Tensor, style: tf.Tensor) -> list[tf.Tensor]:
            palette = tf.reduce_mean(style, axis=[1, 2], keepdims=True)
            shape = tf.cast(tf.shape(style), tf.float32)
            size = (shape[1] + shape[2]) / 1000.0
            return [1.5 * content - 0.25 + 0.5 * palette + size]

    tf.saved_model.save(Stylization(), str(folder))
    return folder


@pytest.fixture(scope="module")
def stand_in_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return magenta_like_saved_model(tmp_path_factory.mktemp("fast_nst") / "model")


def solid_styles(colours: list[list[float]], height: int, width: int) -> np.ndarray:
    """One solid colour per image: its mean colour survives any resize exactly."""
    return np.array(colours, np.float32)[:, None, None, :] * np.ones((1, height, width, 1))


def test_fast_nst_loads_the_model_with_tf_hub_and_resizes_the_style(stand_in_model: Path) -> None:
    content = np.random.default_rng(4).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    style = solid_styles([[0.1, 0.5, 0.9], [0.8, 0.2, 0.0]], 48, 40).astype(np.float32)
    fast = FastStyleTransfer(
        FastNSTSettings(family="fast_nst", style_size=STYLE_SIZE), stand_in_model
    )

    result = fast.stylize(content, style).numpy()

    assert result.shape == (2, SIZE, SIZE, 3)
    assert result.min() >= 0.0 and result.max() <= 1.0
    resized = solid_styles([[0.1, 0.5, 0.9], [0.8, 0.2, 0.0]], STYLE_SIZE, STYLE_SIZE)
    np.testing.assert_allclose(result, stand_in_formula(content, resized), atol=1e-5)
    inside = (result > 0.0) & (result < 1.0)
    assert inside.mean() > 0.5  # mostly the formula itself ...
    assert (result == 0.0).any() and (result == 1.0).any()  # ... clipped at both ends


def test_fast_nst_from_a_folder_that_is_no_saved_model_is_one_ganime_error_line(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "README.txt").write_text("no saved_model.pb here\n")

    with pytest.raises(GanimeError) as caught:
        FastStyleTransfer(FastNSTSettings(family="fast_nst"), folder)
    message = str(caught.value)
    assert "\n" not in message
    assert str(folder) in message and "cannot load" in message


# --- the colorizer surface --------------------------------------------------------------------


class RecordingTransfer:
    """A style transfer that must not be reached."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def stylize(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        self.calls.append((content, style))
        return content


@pytest.mark.parametrize("method", ["nst", "fast_nst"])
def test_a_reference_method_called_without_a_reference_refuses_in_one_line(method: str) -> None:
    transfer = RecordingTransfer()
    colorizer = StyleTransferColorizer(method, transfer, pretrained=True)
    sketch = tf.zeros((1, SIZE, SIZE, 3))

    with pytest.raises(ReferenceMissing) as caught:
        colorizer(sketch)
    message = str(caught.value)
    assert isinstance(caught.value, GanimeError)
    assert "\n" not in message and message.startswith(f"{method} ")
    assert transfer.calls == []
    assert colorizer.needs_reference


def test_a_generator_colorizer_ignores_the_reference_and_returns_its_generators_output() -> None:
    sketches: list[np.ndarray] = []

    def generate(sketch: tf.Tensor, training: bool) -> tf.Tensor:
        sketches.append(np.asarray(sketch))
        return -sketch * 0.5

    colorizer = GeneratorColorizer("pix2pix", generate)
    sketch = tf.constant(np.random.default_rng(5).uniform(-1, 1, (2, SIZE, SIZE, 3)), tf.float32)
    reference = tf.ones((2, SIZE, SIZE, 3))

    without = colorizer(sketch)
    with_reference = colorizer(sketch, reference)

    assert not colorizer.needs_reference and colorizer.pretrained
    np.testing.assert_allclose(without, -sketch.numpy() * 0.5)
    np.testing.assert_allclose(with_reference, -sketch.numpy() * 0.5)
    assert len(sketches) == 2
    for seen in sketches:
        np.testing.assert_array_equal(seen, sketch.numpy())


def test_a_style_transfer_colorizer_takes_and_gives_images_in_minus_1_1(
    stand_in_model: Path,
) -> None:
    settings = FastNSTSettings(family="fast_nst", style_size=STYLE_SIZE)
    colorizer = StyleTransferColorizer(
        "fast_nst", FastStyleTransfer(settings, stand_in_model), pretrained=True
    )
    sketch = np.random.default_rng(6).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    colours = [[-0.6, 0.0, 0.8], [1.0, -1.0, 0.2]]  # in [-1, 1]
    reference = solid_styles(colours, SIZE, SIZE).astype(np.float32)

    result = colorizer(tf.constant(sketch), tf.constant(reference)).numpy()

    in_0_1 = [[(c + 1) / 2 for c in colour] for colour in colours]
    expected = stand_in_formula((sketch + 1) / 2, solid_styles(in_0_1, STYLE_SIZE, STYLE_SIZE))
    np.testing.assert_allclose(result, expected * 2 - 1, atol=1e-5)
    assert result.min() >= -1.0 and result.max() <= 1.0
    assert result.min() < -0.5  # the [0, 1] stylization's low end came back to [-1, 1]'s


# --- build_colorizer: NST's VGG19 weights -----------------------------------------------------


def nst_config(allow_untrained_vgg: bool, auto_fetch: bool) -> ExperimentConfig:
    return parse_config(
        {
            "name": "t",
            "data": {"image_size": SIZE},
            "model": {"family": "nst", "steps": 3, "allow_untrained_vgg": allow_untrained_vgg},
            "assets": {"auto_fetch": auto_fetch},
        }
    )


@pytest.fixture
def no_vgg19_and_no_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty Keras cache (the only place looked in), no mirror, and a fetch that fails the
    test if anything tries it; returns the names anything asked to fetch."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras"))
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    fetched: list[str] = []

    def no_fetch(name: str, *args: object, **kwargs: object) -> None:
        fetched.append(name)
        raise AssertionError(f"tried to fetch {name}")

    monkeypatch.setattr(assets, "fetch_asset", no_fetch)
    assert assets.keras_models_dirs() == [tmp_path / "empty_keras" / "models"]
    assert inspect_asset(VGG19.name).state == "missing"
    return fetched


def test_nst_without_vgg19_weights_runs_on_the_stand_in_where_allowed_and_fetches_nothing(
    no_vgg19_and_no_fetch: list[str],
) -> None:
    colorizer = build_colorizer(nst_config(allow_untrained_vgg=True, auto_fetch=True))

    assert colorizer.method == "nst" and colorizer.needs_reference
    assert colorizer.pretrained is False
    sketch = tf.constant(np.random.default_rng(7).uniform(-1, 1, (1, SIZE, SIZE, 3)), tf.float32)
    result = colorizer(sketch, -sketch).numpy()
    assert result.shape == (1, SIZE, SIZE, 3)
    assert result.min() >= -1.0 and result.max() <= 1.0
    assert no_vgg19_and_no_fetch == []


def test_nst_without_vgg19_weights_or_the_stand_in_or_fetching_is_one_line_naming_the_file(
    no_vgg19_and_no_fetch: list[str],
) -> None:
    with pytest.raises(AssetError) as caught:
        build_colorizer(nst_config(allow_untrained_vgg=False, auto_fetch=False))

    message = str(caught.value)
    assert isinstance(caught.value, GanimeError)
    assert "\n" not in message
    assert VGG19.file_name in message and "auto_fetch" in message
    assert no_vgg19_and_no_fetch == []


# --- the reference draw -----------------------------------------------------------------------


def data_for(family: str, seed: int = 0) -> TrainingData:
    """32 px generated data (24 train, 6 val) in the test's cache ($GANIME_CACHE_DIR)."""
    return TrainingData(
        parse_config(
            {
                "name": "t",
                "seed": seed,
                "data": {"image_size": SIZE, "synthetic": {"count": 30}},
                "model": {"family": family},
                "train": {"batch_size": 2},
            }
        )
    )


def test_the_random_reference_draw_is_seeded_shared_by_methods_and_from_train_colours(
    cache_dir: Path,
) -> None:
    pix2pix, nst, nst_again = data_for("pix2pix"), data_for("nst"), data_for("nst")
    paths, parts = pix2pix.reference_files("test", "random_train")
    val_count = len(nst.examples("test", epoch=None))
    # The train split's colour images: train/ less the images carved for selection.
    train_files = list(pix2pix.examples("train", epoch=None).color_path)
    assert val_count == 6 and len(train_files) == 22

    for other in (nst, nst_again):
        other_paths, other_parts = other.reference_files("test", "random_train")
        np.testing.assert_array_equal(other_paths, paths)
        np.testing.assert_array_equal(other_parts, parts)
    assert len(paths) == val_count
    assert set(paths) <= set(train_files) and len(set(paths)) > 1  # a draw, not one file
    assert (parts == LEFT).all()  # the colour half of each colour | sketch file

    reseeded, _ = data_for("nst", seed=1).reference_files("test", "random_train")
    assert list(reseeded) != list(paths)

    truth_paths, truth_parts = nst.reference_files("test", "ground_truth")
    val_files = [str(path) for path in nst.folder("val")[0].files]
    assert list(truth_paths) == val_files and (truth_parts == LEFT).all()


def test_eval_batches_carry_each_examples_reference_image_in_minus_1_1(cache_dir: Path) -> None:
    data = data_for("nst")
    paths, _ = data.reference_files("test", "random_train")
    train_files = list(data.examples("train", epoch=None).color_path)
    train_colours = np.concatenate(
        [batch["color"].numpy() for batch in data.eval_dataset("train", 8)]
    )

    batches = list(data.eval_dataset("test", 4, reference="random_train"))

    assert [batch["reference"].shape for batch in batches] == [
        (4, SIZE, SIZE, 3),
        (2, SIZE, SIZE, 3),
    ]
    references = np.concatenate([batch["reference"].numpy() for batch in batches])
    assert references.min() >= -1.0 and references.max() <= 1.0
    for reference, path in zip(references, paths, strict=True):  # the drawn file's colour half
        np.testing.assert_array_equal(reference, train_colours[train_files.index(path)])

    later = next(iter(data.eval_dataset("test", 2, limit=4, start=2, reference="random_train")))
    np.testing.assert_array_equal(later["reference"], references[2:4])  # aligned under a slice
