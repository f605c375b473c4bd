"""Style2paints V1's residual U-Net: the shapes of the paper's Fig. 2, and the hint's effect."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from ganime_core.config import Style2paintsSettings
from ganime_core.residual_unet import (
    DEFAULT_HINT_WIDTH,
    FIGURE_LAYERS,
    figure_shapes,
    residual_unet,
)
from tests.support.tolerances import U32, gamma

INJECTIONS = ("add", "film_mid", "film_all")

# (layer, output shape without the batch) at 256x256 and base_filters 16, as Fig. 2 draws them.
FIGURE_2 = {
    "enc0_b_act": (256, 256, 16),
    "enc1_b_act": (128, 128, 32),
    "enc2_b_act": (64, 64, 64),
    "enc3_b_act": (32, 32, 128),
    "enc4_b_act": (16, 16, 256),
    "mid_hinted": (8, 8, 2048),
    "mid2_out": (8, 8, 2048),
    "dec_entry_act": (16, 16, 512),
    "dec4_skip": (16, 16, 512 + 256),
    "dec3_skip": (32, 32, 128 + 64),
    "dec2_skip": (64, 64, 64 + 32),
    "dec1_skip": (128, 128, 32 + 16),
    "dec0_up_act": (256, 256, 64),
    "painting": (256, 256, 3),
    "guide1": (256, 256, 1),
    "guide2": (256, 256, 3),
}


def test_every_block_has_the_shape_the_papers_figure_draws() -> None:
    model = residual_unet(256, 16, hint_injection="add")
    shapes = {name: tuple(model.get_layer(name).output.shape[1:]) for name in FIGURE_2}
    assert shapes == FIGURE_2
    assert model.count_params() == 35_686_263  # the figure's (add): docs/SCIENCE.md's 35.7M


def test_the_generator_defaults_to_the_injection_the_config_defaults_to() -> None:
    """One default: a generator built without the config (tests, `ganime describe`) is the one a
    run trains."""
    default = inspect.signature(residual_unet).parameters["hint_injection"].default
    assert default == Style2paintsSettings.model_fields["hint_injection"].default == "film_all"


def test_film_adds_its_layers_after_the_chosen_norms_and_keeps_the_figures_blocks() -> None:
    """film_mid: after mid_entry's norm and each bottleneck's expand norm (the norms whose
    output joins the mid-level's trunk); film_all: also after every decoder up block's."""
    add = residual_unet(64, 4, hint_injection="add")
    mid = ("mid_entry", "mid1_expand", "mid2_expand")
    decoder = ("dec_entry", "dec3_up", "dec2_up", "dec1_up", "dec0_up")
    for injection, sites in (("add", ()), ("film_mid", mid), ("film_all", mid + decoder)):
        model = residual_unet(64, 4, hint_injection=injection)
        assert {layer.name for layer in model.layers if layer.name.endswith("_film")} == {
            f"{site}_film" for site in sites
        }
        assert figure_shapes(model) == figure_shapes(add)  # `ganime describe` as before
        # Every layer the add mode has, by name: film modes are add plus FiLM.
        assert {layer.name for layer in add.layers} <= {layer.name for layer in model.layers}
    assert set(figure_shapes(add)) == set(FIGURE_LAYERS)


@pytest.mark.parametrize("size", [32, 64])
def test_small_sizes_run_the_same_code_and_every_output_is_in_minus_1_1(size: int) -> None:
    model = residual_unet(size, 4, mid_blocks=1)
    rng = np.random.default_rng(0)
    sketch = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    hint = rng.normal(0, 1, (2, DEFAULT_HINT_WIDTH)).astype(np.float32)
    painting, guide1, guide2 = (np.asarray(o) for o in model([sketch, hint], training=False))
    assert painting.shape == (2, size, size, 3) and guide2.shape == (2, size, size, 3)
    assert guide1.shape == (2, size, size, 1)  # the grayscale target T(y)
    for image in (painting, guide1, guide2):
        assert np.abs(image).max() <= 1.0


def test_another_hint_width_changes_only_the_hint_input_and_its_dense() -> None:
    """hint_features: the hint encoder's width (192 for colour_thumbnail), which only the
    hint's Dense reads; the default is fc1's 4096."""
    default, narrow = residual_unet(32, 4), residual_unet(32, 4, hint_features=192)
    assert default.get_layer("hint").output.shape[-1] == DEFAULT_HINT_WIDTH
    assert narrow.get_layer("hint").output.shape[-1] == 192
    dense = default.get_layer("hint_dense").units
    assert default.count_params() - narrow.count_params() == (DEFAULT_HINT_WIDTH - 192) * dense
    assert figure_shapes(narrow) == figure_shapes(default)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_the_hint_changes_the_painting_and_guide_2_but_not_guide_1(injection: str) -> None:
    """Guide decoder 1 branches before the hint is added, guide decoder 2 after it."""
    model = residual_unet(32, 4, mid_blocks=1, hint_injection=injection)
    rng = np.random.default_rng(1)
    sketch = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    hints = rng.normal(0, 1, (2, 1, DEFAULT_HINT_WIDTH)).astype(np.float32)  # two references
    painting, guide1, guide2 = one_batch_per_hint(model, sketch, hints)
    assert not np.allclose(painting[0], painting[1])
    assert not np.allclose(guide2[0], guide2[1])
    # Guide 1 is the same computation on the same input in both calls: equal bits.
    np.testing.assert_array_equal(guide1[0], guide1[1])


def one_batch_per_hint(model: keras.Model, sketch: np.ndarray, hints: np.ndarray) -> list:
    """The model's outputs for one sketch under each hint, one call (a batch of 1) per hint,
    stacked per output. Not two rows of one batch: oneDNN may compute two rows of a batch in
    different orders (it did on an AMD EPYC without AVX-512), so only separate calls of one
    shape run the part before the hint with the same arithmetic, to the bit."""
    calls = [model([sketch, hint], training=False) for hint in hints]
    return [np.concatenate([np.asarray(call[i]) for call in calls]) for i in range(len(calls[0]))]


def test_under_add_the_next_instance_norm_removes_the_hint_exactly() -> None:
    """The mechanism FiLM works around: `add` puts the hint in as a per-channel constant, and
    InstanceNorm subtracts each channel's spatial mean, so the first normalization after it
    (the first bottleneck's reduce norm, a 1x1 convolution later) gives the same output for
    any hint. At 64 px the mid-level is 2x2: the sketch's layout is still there to normalize."""
    keras.utils.set_random_seed(0)
    model = residual_unet(64, 4, mid_blocks=1, hint_injection="add")
    names = ("mid_hinted", "mid1_reduce", "mid1_reduce_norm")
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    rng = np.random.default_rng(2)
    sketch = rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    hints = rng.normal(0, 1, (2, 1, DEFAULT_HINT_WIDTH)).astype(np.float32)  # two references
    hinted, reduced, normed = (
        np.asarray(out, np.float64) for out in one_batch_per_hint(probe, sketch, hints)
    )

    # The hint is there: the two rows differ by a per-channel constant (the two normalized
    # hint vectors' difference, unit variance each: rms about sqrt(2)), up to the add's rounding.
    added = hinted[0] - hinted[1]  # (2, 2, C)
    assert np.sqrt(np.mean(added**2)) > 1.0
    spread = np.ptp(added, axis=(0, 1))
    assert spread.max() <= 2 * U32 * np.abs(hinted).max()

    # ... and the reduce norm removed it. The rows' pre-norm maps differ by a constant plus at
    # most D per element: the 1x1 convolution's rounding, gamma(C) of its terms' magnitudes
    # T, in each row, and the constant's own rounding in `hinted` passed through it (2u of T).
    # (r - mean) / std moves by at most 2D / std * (1 + |r - mean| / std) under a change of
    # at most D per element (first order), and each row's norm rounds within 3 gamma(H W) of
    # |r| / std (tests/core/test_networks.py), all times the layer's |scale|.
    reduce, norm = model.get_layer("mid1_reduce"), model.get_layer("mid1_reduce_norm")
    kernel = np.abs(np.asarray(reduce.kernel, np.float64)[0, 0])  # (C, C / 4)
    terms = (np.abs(hinted) @ kernel).max(axis=(0, 1, 2))  # T per output channel
    channels, positions = kernel.shape[0], reduced.shape[1] * reduced.shape[2]
    moved = 2 * (gamma(channels) + U32) * terms
    centred = reduced[0] - reduced[0].mean(axis=(0, 1))
    std = np.sqrt(reduced[0].var(axis=(0, 1)) + norm.epsilon)
    bound = 2 * moved / std * (1 + np.abs(centred).max(axis=(0, 1)) / std)
    bound += 2 * 3 * gamma(positions) * np.abs(reduced).max(axis=(0, 1, 2)) / std
    bound *= np.abs(np.asarray(norm.scale))
    assert np.all(np.abs(normed[0] - normed[1]) <= bound)
    # Not a vacuous bound: the constant moves the pre-norm map by far more (~180x here).
    effect = np.abs(reduced[0] - reduced[1]).max(axis=(0, 1)) / std * np.abs(np.asarray(norm.scale))
    assert np.median(effect) > 10 * np.median(bound)
