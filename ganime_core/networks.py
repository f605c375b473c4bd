"""U-Net generator, 70x70 PatchGAN discriminator and InstanceNormalization (GANime paper tables).

Shape comments are for the paper's 256x256 input with base_filters=64; depth follows the image size
(log2(size) down blocks, so the bottleneck is always 1x1) and widths follow base_filters.
"""

from __future__ import annotations

import math
from typing import Literal

import keras
from keras import layers, ops

from ganime_core.precision import FLOAT32

Norm = Literal["batch", "instance"]


def kernel_init() -> keras.initializers.Initializer:
    """N(0, 0.02), as in the paper's tf.random_normal_initializer(0., 0.02)."""
    return keras.initializers.RandomNormal(0.0, 0.02)


@keras.saving.register_keras_serializable(package="ganime")
class InstanceNormalization(layers.Layer):
    """Per-sample, per-channel normalization over H and W with a learnable affine transform.

    Written out rather than taken from an add-on so the initialization matches the paper:
    scale ~ N(1, 0.02), offset = 0, epsilon 1e-5.
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = input_shape[-1:]
        self.scale = self.add_weight(
            name="scale", shape=channels, initializer=keras.initializers.RandomNormal(1.0, 0.02)
        )
        self.offset = self.add_weight(name="offset", shape=channels, initializer="zeros")

    def call(self, x):
        # Statistics in float32 under any precision: in float16, epsilon flushes to zero on
        # CPUs, and a 1x1 map's variance (the U-Net's bottleneck) is exactly 0.
        computed = x.dtype
        x = ops.cast(x, "float32")
        mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
        centred = ops.cast(x - mean, computed)
        return self.scale * centred * ops.cast(ops.rsqrt(variance + self.epsilon), computed) + (
            self.offset
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


def normalization(norm: Norm, synchronized: bool = False, name: str | None = None) -> layers.Layer:
    """BatchNorm for Pix2Pix, InstanceNorm for CycleGAN.

    BatchNorm momentum is 0.9 (PyTorch's 0.1) rather than Keras' 0.99: generate() uses the moving
    statistics, and they must be usable after tens of steps, not thousands.
    """
    if norm == "batch":
        return layers.BatchNormalization(momentum=0.9, synchronized=synchronized, name=name)
    return InstanceNormalization(name=name)


def downsample(
    filters: int, norm: Norm | None, name: str, synchronized: bool = False
) -> keras.Sequential:
    """Conv2D(k4, s2, same) -> norm -> LeakyReLU(0.2): halves H and W."""
    block = keras.Sequential(name=name)
    block.add(
        layers.Conv2D(
            filters, 4, strides=2, padding="same", kernel_initializer=kernel_init(), use_bias=False
        )
    )
    if norm is not None:
        block.add(normalization(norm, synchronized))
    # 0.2 is pix2pix's slope (Isola et al.); the tables leave it unstated.
    block.add(layers.LeakyReLU(negative_slope=0.2))
    return block


def upsample(
    filters: int, norm: Norm, dropout: float, name: str, synchronized: bool = False
) -> keras.Sequential:
    """Conv2DTranspose(k4, s2, same) -> norm -> [Dropout] -> ReLU: doubles H and W."""
    block = keras.Sequential(name=name)
    block.add(
        layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", kernel_initializer=kernel_init(), use_bias=False
        )
    )
    block.add(normalization(norm, synchronized))
    if dropout > 0:
        block.add(layers.Dropout(dropout))
    block.add(layers.ReLU())
    return block


def encoder_filters(image_size: int, base_filters: int) -> list[int]:
    """Filters of each down block: base, 2x, 4x, then 8x until the feature map is 1x1."""
    depth = int(math.log2(image_size))
    return [base_filters * min(2**i, 8) for i in range(depth)]


def unet_generator(
    image_size: int = 256,
    base_filters: int = 64,
    norm: Norm = "batch",
    dropout: float = 0.5,
    synchronized: bool = False,
    name: str = "generator",
) -> keras.Model:
    """Sketch (B, S, S, 3) in [-1, 1] -> colour image (B, S, S, 3) in [-1, 1]."""
    filters = encoder_filters(image_size, base_filters)
    sketch = keras.Input((image_size, image_size, 3), name="sketch")

    # Encoder, at 256 px: down1 (128, 128, 64) ... down7 (2, 2, 512), down8 (1, 1, 512).
    x = sketch
    skips = []
    for i, width in enumerate(filters):
        # No normalization in the first block: it would erase the input's absolute colour levels.
        x = downsample(width, None if i == 0 else norm, f"down{i + 1}", synchronized)(x)
        skips.append(x)

    # Decoder, at 256 px: up1 (2, 2, 512) + skip -> (2, 2, 1024) ... up7 (128, 128, 64) -> 128.
    # The bottleneck is not a skip; each up block mirrors the width of the skip it joins.
    skips = skips[-2::-1]
    for i, skip in enumerate(skips):
        width = skip.shape[-1]
        rate = dropout if i < 3 else 0.0
        x = upsample(width, norm, rate, f"up{i + 1}", synchronized)(x)
        x = layers.Concatenate(name=f"skip{i + 1}")([x, skip])

    x = layers.Conv2DTranspose(
        3, 4, strides=2, padding="same", kernel_initializer=kernel_init(), name="output"
    )(x)  # (256, 256, 3)
    # tanh in float32 under any precision: the image every loss and metric sees is float32.
    colour = layers.Activation("tanh", dtype=FLOAT32, name="colour")(x)
    return keras.Model(sketch, colour, name=name)


def patchgan_discriminator(
    image_size: int = 256,
    base_filters: int = 64,
    norm: Norm = "batch",
    conditional: bool = True,
    synchronized: bool = False,
    name: str = "discriminator",
) -> keras.Model:
    """70x70 PatchGAN: an image (and, if conditional, its sketch) -> a grid of real/fake logits.

    Conditional (Pix2Pix) takes [sketch, image], concatenated to 6 channels; unconditional
    (CycleGAN) takes the image alone. Outputs raw logits, (B, 30, 30, 1) at 256 px.
    """
    shape = (image_size, image_size, 3)
    image = keras.Input(shape, name="image")
    if conditional:
        sketch = keras.Input(shape, name="sketch")
        inputs = [sketch, image]
        x = layers.Concatenate(name="pair")([sketch, image])  # (256, 256, 6)
    else:
        inputs = image
        x = image

    x = downsample(base_filters, None, "down1", synchronized)(x)  # (128, 128, 64)
    x = downsample(base_filters * 2, norm, "down2", synchronized)(x)  # (64, 64, 128)
    x = downsample(base_filters * 4, norm, "down3", synchronized)(x)  # (32, 32, 256)

    x = layers.ZeroPadding2D(name="zero_pad1")(x)  # (34, 34, 256)
    x = layers.Conv2D(
        base_filters * 8,
        4,
        strides=1,
        kernel_initializer=kernel_init(),
        use_bias=False,
        name="conv",
    )(x)  # (31, 31, 512)
    x = normalization(norm, synchronized, name="conv_norm")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="conv_relu")(x)

    x = layers.ZeroPadding2D(name="zero_pad2")(x)  # (33, 33, 512)
    x = layers.Conv2D(1, 4, strides=1, kernel_initializer=kernel_init(), name="logits")(
        x
    )  # (30, 30, 1)
    logits = layers.Activation("linear", dtype=FLOAT32, name="logits_float32")(x)
    return keras.Model(inputs, logits, name=name)


def painting_discriminator(
    image_size: int = 256,
    base_filters: int = 16,
    outputs: int = 1,
    norm: Norm = "instance",
    name: str = "discriminator",
) -> keras.Model:
    """Style2paints V1's unconditional discriminator: a painting alone (no sketch: the paper
    drops cGAN so that D judges the painting's global manner) -> `outputs` values. 4096 for
    the AC-GAN form (regressed towards VGG19 fc1 of a real painting, 0 for a generated one), 1
    for the DCGAN form (a real/fake logit). Four stride-2 blocks down to 1/16 of the size
    (widths base_filters x 2, 4, 8, 16), global average pooling, then a dense layer."""
    image = layers.Input((image_size, image_size, 3), name="painting")
    x = image
    for i, multiple in enumerate((2, 4, 8, 16)):
        x = downsample(base_filters * multiple, norm if i > 0 else None, name=f"d{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)  # (16b,)
    x = layers.Dense(outputs, kernel_initializer=kernel_init(), name="judgement")(x)
    out = layers.Activation("linear", dtype=FLOAT32, name="judgement_float32")(x)
    return keras.Model(image, out, name=name)
