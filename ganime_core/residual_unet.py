"""Style2paints V1's generator: a residual U-Net with two guide decoders, into whose mid-level
the reference's VGG19 fc1 vector (the "global style hint") is added.

Shape comments are for the paper's Fig. 2: 256x256 input, base_filters=16. Every resolution is
a fixed fraction of `image_size` (the encoder ends at 1/16, the mid-level is at 1/32), and every
width a multiple of `base_filters`, so 32-64 px tests run the same code.

Where the figure leaves a choice, it is made here and said:
- The figure draws skip widths 256, 64, 32, 16 joining the decoder at 16, 32, 64 and 128 px,
  where the encoder has 256, 128, 64 and 32 channels: the 16 px skip is the encoder's feature
  itself, the others pass a 1x1 convolution to the drawn width.
- The mid-level's "residual blocks" at 2048 channels are ResNet bottleneck blocks (1x1 to 512,
  3x3, 1x1 back to 2048, plus the input): plain 3x3 blocks at 2048 channels would be 38M
  parameters each.
- Normalization is the family's `norm` (InstanceNorm by default: the paper's batch is at most
  4); LeakyReLU 0.2 in the encoder, ReLU in the decoders, as pix2pix.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import keras
from keras import layers

from ganime_core.networks import Norm, kernel_init, normalization
from ganime_core.precision import FLOAT32

HINT_FEATURES = 4096  # VGG19 fc1, taken before its ReLU
HintNorm = Literal["layer", "none"]
NormLayer = Callable[..., layers.Layer]  # normalization(kind, synchronized), given a name
ENCODER_LEVELS = 5  # S, S/2, S/4, S/8, S/16
# The layers whose outputs Fig. 2 draws, in order (`ganime describe` prints their shapes).
FIGURE_LAYERS = (
    *(f"enc{level}_b_act" for level in range(ENCODER_LEVELS)),
    "mid_hinted",
    "dec_entry_act",
    "dec4_skip",
    "dec3_up_act",
    "dec3_skip",
    "dec2_up_act",
    "dec2_skip",
    "dec1_up_act",
    "dec1_skip",
    "dec0_up_act",
    "painting",
    "guide1",
    "guide2",
)


def conv_block(x, filters: int, norm: NormLayer, name: str, strides: int = 1, leaky: bool = True):
    """3x3 convolution, normalization, (Leaky)ReLU."""
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", kernel_initializer=kernel_init(),
        use_bias=False, name=f"{name}_conv",
    )(x)  # fmt: skip
    x = norm(name=f"{name}_norm")(x)
    return (
        layers.LeakyReLU(0.2, name=f"{name}_act")(x)
        if leaky
        else layers.ReLU(name=f"{name}_act")(x)
    )


def up_block(x, filters: int, norm: NormLayer, name: str):
    """Transposed 3x3 convolution, stride 2: twice the size."""
    x = layers.Conv2DTranspose(
        filters, 3, strides=2, padding="same", kernel_initializer=kernel_init(),
        use_bias=False, name=f"{name}_conv",
    )(x)  # fmt: skip
    x = norm(name=f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_act")(x)


def bottleneck_block(x, norm: NormLayer, name: str):
    """ResNet's bottleneck: 1x1 to a quarter of the width, 3x3, 1x1 back, added to the input."""
    width = x.shape[-1]
    y = layers.Conv2D(width // 4, 1, kernel_initializer=kernel_init(), name=f"{name}_reduce")(x)
    y = layers.ReLU(name=f"{name}_reduce_act")(norm(name=f"{name}_reduce_norm")(y))
    y = conv_block(y, width // 4, norm, f"{name}_mid", leaky=False)
    y = layers.Conv2D(width, 1, kernel_initializer=kernel_init(), name=f"{name}_expand")(y)
    y = norm(name=f"{name}_expand_norm")(y)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))


def guide_decoder(x, channels: int, norm: NormLayer, name: str):
    """From a 1/16-size feature to a full-size image in [-1, 1]: four up blocks, widths halving."""
    width = x.shape[-1]
    for i in range(ENCODER_LEVELS - 1):
        width = max(width // 2, 8)
        x = up_block(x, width, norm, f"{name}_up{i + 1}")
    image = layers.Conv2D(channels, 3, padding="same", kernel_initializer=kernel_init(),
                          name=f"{name}_image")(x)  # fmt: skip
    return layers.Activation("tanh", dtype=FLOAT32, name=name)(image)


def residual_unet(
    image_size: int = 256,
    base_filters: int = 16,
    norm: Norm = "instance",
    mid_blocks: int = 2,
    hint_norm: HintNorm = "layer",
    synchronized: bool = False,
) -> keras.Model:
    """Inputs: a sketch (S, S, 3) in [-1, 1] and the reference's VGG19 fc1 vector (4096,).
    Outputs: the painting (S, S, 3), guide decoder 1's grayscale painting (S, S, 1) and guide
    decoder 2's painting (S, S, 3), all in [-1, 1]."""
    b = base_filters
    norm_layer = partial(normalization, norm, synchronized)
    sketch = layers.Input((image_size, image_size, 3), name="sketch")
    hint = layers.Input((HINT_FEATURES,), name="hint")

    # Encoder, two convolutions per level: 256x256x16 -> 128x128x32 -> ... -> 16x16x256
    skips = []
    x = sketch
    for level in range(ENCODER_LEVELS):
        width = b * 2**level
        x = conv_block(x, width, norm_layer, f"enc{level}_a", strides=1 if level == 0 else 2)
        x = conv_block(x, width, norm_layer, f"enc{level}_b")
        skips.append(x)
    guide1 = guide_decoder(x, 1, norm_layer, "guide1")  # (S, S, 1): before the hint

    # Mid-level at 1/32: 8x8x2048, the hint added at its entry, then residual blocks.
    x = conv_block(x, b * 128, norm_layer, "mid_entry", strides=2)  # (S/32, S/32, 128b)
    style = layers.Dense(b * 128, kernel_initializer=kernel_init(), name="hint_dense")(hint)
    if hint_norm == "layer":  # "global normalization": zero mean, unit variance over 2048
        style = layers.LayerNormalization(center=False, scale=False, name="hint_norm")(style)
    style = layers.Reshape((1, 1, b * 128), name="hint_map")(style)
    x = layers.Add(name="mid_hinted")([x, style])  # broadcast over the 8x8 positions
    for i in range(mid_blocks):
        x = bottleneck_block(x, norm_layer, f"mid{i + 1}")

    # Decoder: 16x16x512 (guide decoder 2 branches here) -> +256 -> 32x32x128 -> +64 -> ...
    x = up_block(x, b * 32, norm_layer, "dec_entry")  # (S/16, S/16, 32b)
    guide2 = guide_decoder(x, 3, norm_layer, "guide2")
    x = layers.Concatenate(name="dec4_skip")([x, skips[4]])  # (S/16, S/16, 32b + 16b)
    for level, width in ((3, b * 8), (2, b * 4), (1, b * 2)):
        x = up_block(x, width, norm_layer, f"dec{level}_up")  # (S/2^level, ..., width)
        skip = layers.Conv2D(width // 2, 1, kernel_initializer=kernel_init(),
                             name=f"skip{level}_proj")(skips[level])  # fmt: skip
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skip])
    x = up_block(x, b * 4, norm_layer, "dec0_up")  # (S, S, 4b)
    painting = layers.Conv2D(3, 3, padding="same", kernel_initializer=kernel_init(),
                             name="painting_image")(x)  # fmt: skip
    painting = layers.Activation("tanh", dtype=FLOAT32, name="painting")(painting)
    return keras.Model([sketch, hint], [painting, guide1, guide2], name="residual_unet")


def figure_shapes(generator: keras.Model) -> dict[str, list[int]]:
    """Each FIGURE_LAYERS output's shape (H, W, C), by layer name."""
    return {name: list(generator.get_layer(name).output.shape[1:]) for name in FIGURE_LAYERS}
