"""Shapes of every block at 256 px against the GANime paper's tables, and the norm layers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from ganime_core.networks import (
    InstanceNormalization,
    encoder_filters,
    patchgan_discriminator,
    unet_generator,
)
from tests.support.tolerances import gamma

# (block, output shape at 256x256 input) from the seed's U-Net tables.
ENCODER = [
    ("down1", (128, 128, 64)),
    ("down2", (64, 64, 128)),
    ("down3", (32, 32, 256)),
    ("down4", (16, 16, 512)),
    ("down5", (8, 8, 512)),
    ("down6", (4, 4, 512)),
    ("down7", (2, 2, 512)),
    ("down8", (1, 1, 512)),
]
# (block, filters, shape after the skip concat, has dropout)
DECODER = [
    ("up1", 512, (2, 2, 1024), True),
    ("up2", 512, (4, 4, 1024), True),
    ("up3", 512, (8, 8, 1024), True),
    ("up4", 512, (16, 16, 1024), False),
    ("up5", 256, (32, 32, 512), False),
    ("up6", 128, (64, 64, 256), False),
    ("up7", 64, (128, 128, 128), False),
]
PATCHGAN = [
    ("down1", (128, 128, 64)),
    ("down2", (64, 64, 128)),
    ("down3", (32, 32, 256)),
    ("conv", (31, 31, 512)),
    ("logits", (30, 30, 1)),
]


@pytest.fixture(scope="module")
def generator():
    return unet_generator(256, 64, "batch")


def kinds(block) -> list[type]:
    return [type(layer) for layer in block.layers]


def test_generator_encoder_blocks_match_the_table(generator) -> None:
    for name, shape in ENCODER:
        block = generator.get_layer(name)
        assert tuple(block.output.shape[1:]) == shape, name
        conv = block.layers[0]
        assert isinstance(conv, layers.Conv2D)
        assert (conv.kernel_size, conv.strides, conv.padding) == ((4, 4), (2, 2), "same")
        assert conv.use_bias is False
    assert kinds(generator.get_layer("down1")) == [layers.Conv2D, layers.LeakyReLU]
    for name, _ in ENCODER[1:]:
        expected = [layers.Conv2D, layers.BatchNormalization, layers.LeakyReLU]
        assert kinds(generator.get_layer(name)) == expected, name


def test_generator_decoder_blocks_match_the_table(generator) -> None:
    for i, (name, filters, concat_shape, dropout) in enumerate(DECODER, start=1):
        block = generator.get_layer(name)
        conv = block.layers[0]
        assert isinstance(conv, layers.Conv2DTranspose)
        assert (conv.filters, conv.kernel_size, conv.strides) == (filters, (4, 4), (2, 2))
        assert conv.use_bias is False
        assert tuple(generator.get_layer(f"skip{i}").output.shape[1:]) == concat_shape, name
        dropouts = [layer for layer in block.layers if isinstance(layer, layers.Dropout)]
        assert [d.rate for d in dropouts] == ([0.5] if dropout else []), name
        assert isinstance(block.layers[-1], layers.ReLU)


def test_generator_output_and_parameter_count(generator) -> None:
    output = generator.get_layer("output")
    assert isinstance(output, layers.Conv2DTranspose)
    assert (output.filters, output.kernel_size, output.strides) == (3, (4, 4), (2, 2))
    assert generator.get_layer("colour").activation.__name__ == "tanh"  # in float32
    assert tuple(generator.output.shape[1:]) == (256, 256, 3)
    # Seven skips: every down block but the bottleneck.
    assert len([layer for layer in generator.layers if layer.name.startswith("skip")]) == 7
    # The TF pix2pix tutorial's generator, which the paper's code follows.
    assert generator.count_params() == 54_425_859


def test_patchgan_shapes_and_conditioning() -> None:
    conditional = patchgan_discriminator(256, 64, "batch", conditional=True)
    for name, shape in PATCHGAN:
        assert tuple(conditional.get_layer(name).output.shape[1:]) == shape, name
    assert tuple(conditional.get_layer("pair").output.shape[1:]) == (256, 256, 6)
    assert kinds(conditional.get_layer("down1")) == [layers.Conv2D, layers.LeakyReLU]
    assert conditional.get_layer("logits").activation.__name__ == "linear"  # raw logits
    assert conditional.count_params() == 2_770_433

    unconditional = patchgan_discriminator(256, 64, "instance", conditional=False)
    assert len(unconditional.inputs) == 1 and unconditional.inputs[0].shape[-1] == 3
    assert tuple(unconditional.output.shape[1:]) == (30, 30, 1)
    assert isinstance(unconditional.get_layer("conv_norm"), InstanceNormalization)


@pytest.mark.parametrize(("size", "depth"), [(32, 5), (64, 6), (128, 7), (256, 8)])
def test_depth_and_width_follow_size_and_base_filters(size: int, depth: int) -> None:
    generator = unet_generator(size, 16, "instance")
    assert len(encoder_filters(size, 16)) == depth
    assert tuple(generator.get_layer(f"down{depth}").output.shape[1:3]) == (1, 1)
    assert tuple(generator.output.shape[1:]) == (size, size, 3)
    assert generator.get_layer("down1").output.shape[-1] == 16
    assert encoder_filters(size, 16)[-1] == 128  # widths stop doubling at 8x
    assert patchgan_discriminator(size, 16, "instance").output.shape[1] == size // 8 - 2


def test_kernels_are_drawn_from_n_0_002() -> None:
    generator = unet_generator(256, 64, "batch")
    kernel = generator.get_layer("down4").layers[0].kernel.numpy()
    assert abs(kernel.mean()) < 1e-3
    assert kernel.std() == pytest.approx(0.02, rel=0.02)


def test_instance_norm_initializers() -> None:
    norm = InstanceNormalization()
    norm.build((None, 4, 4, 4096))
    scale, offset = norm.scale.numpy(), norm.offset.numpy()
    assert scale.mean() == pytest.approx(1.0, abs=2e-3)
    assert scale.std() == pytest.approx(0.02, rel=0.05)
    assert np.all(offset == 0)
    assert norm.epsilon == 1e-5
    assert len(norm.trainable_weights) == 2


def test_instance_norm_normalizes_each_sample_and_channel_over_h_and_w() -> None:
    rng = np.random.default_rng(0)
    # Each (sample, channel) gets its own mean and spread.
    x = rng.normal(size=(3, 8, 8, 5)) * rng.uniform(0.5, 5, (3, 1, 1, 5)) + rng.normal(
        0, 10, (3, 1, 1, 5)
    )
    norm = InstanceNormalization()
    norm.build(x.shape)
    norm.scale.assign(np.ones(5, np.float32))
    y = norm(tf.constant(x, tf.float32)).numpy()
    # float32 against float64: the input's cast, the mean's and the variance's sums of 64 terms
    # err by at most 3 gamma(64) of |x|, which (x - mean) / std divides by the std: 3.1e-4.
    error = 3 * gamma(64) * float((np.abs(x) / x.std(axis=(1, 2), keepdims=True)).max())
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=error)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=error)
    # The hand formula, with the learnable affine.
    norm.scale.assign(np.full(5, 2.0, np.float32))
    norm.offset.assign(np.full(5, 0.5, np.float32))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = 2.0 * (x - mean) / np.sqrt(var + 1e-5) + 0.5
    np.testing.assert_allclose(norm(tf.constant(x, tf.float32)).numpy(), expected, atol=2 * error)
    # Another sample in the batch changes nothing: no cross-sample leakage.
    alone = norm(tf.constant(x[:1], tf.float32)).numpy()
    np.testing.assert_allclose(alone, expected[:1], atol=2 * error)  # (the scale 2)


def test_norm_switch_reaches_every_block() -> None:
    generator = unet_generator(32, 8, "instance")
    norms = [
        layer for block in generator.layers if hasattr(block, "layers") for layer in block.layers
    ]
    assert any(isinstance(layer, InstanceNormalization) for layer in norms)
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in norms)
