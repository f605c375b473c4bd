"""Style2paints V1's generator: a residual U-Net with two guide decoders, into whose mid-level
the reference's VGG19 fc1 vector (the "global style hint"; or another hint of `hint_features`
values, ganime_core/hints.py) is fed.

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

How the hint enters (`hint_injection`):
- add: the figure's way: Dense, normalized, broadcast and added once at the mid-level's entry
  ("mid_hinted"). A spatially constant addition is exactly what InstanceNorm subtracts (each
  channel's spatial mean): the next normalization on any path it takes erases it, and at 32 px,
  where the mid-level is 1x1, a mid-level InstanceNorm outputs its offset alone. What is left
  reaches the decoder only through the bottlenecks' residual adds, whose sum the decoder's
  first InstanceNorm centres again.
- film_mid: add, plus FiLM (Perez et al. 2018) after the normalizations whose output joins the
  mid-level's trunk with no normalization in between: mid_entry's and each bottleneck's expand
  norm (the residual branch's last). x = norm(x) * (1 + gamma) + beta, gamma and beta per channel
  from the normalized hint: nothing after it in the block can erase it. The bottlenecks' inner
  norms are not modulated: the expand norm would recentre what they add, so they would cost
  parameters for little.
- film_all: film_mid, plus the same after each decoder up block's normalization (dec_entry,
  dec3_up ... dec0_up), where an image's global colour is set. The guide decoders stay
  unmodulated: guide 1 is the hint-free grayscale, guide 2 branches after dec_entry's FiLM.
FiLM keeps the additive entry: film modes are add plus FiLM layers (one change, so an A/B of
hint_injection measures FiLM alone), and Fig. 2's "mid_hinted" layer exists in every mode.
film_all is the default: it followed references best with every hint encoder
(experiments/compare_reference.yaml; docs/SCIENCE.md has the numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, partial
from typing import Literal

import keras
from keras import KerasTensor, layers

from ganime_core.networks import Norm, kernel_init, normalization
from ganime_core.precision import FLOAT32

DEFAULT_HINT_WIDTH = 4096  # VGG19 fc1, taken before its ReLU: the paper's hint, the default width
HintNorm = Literal["layer", "none"]
HintInjection = Literal["add", "film_mid", "film_all"]
NormLayer = Callable[..., layers.Layer]  # normalization(kind, synchronized), given a name
# What follows a block's normalization: (normalized x, block name) -> x; identity or FiLM.
Modulation = Callable[[KerasTensor, str], KerasTensor]
# FiLM's gamma and beta start with about this standard deviation across hints: each channel's
# scale and shift move by ~10% with the reference, so two references differ from the first
# step while the network starts near the unconditioned one (kernel_init()'s 0.02 over 2048
# unit-variance inputs would give ~0.9: a gamma near -1 switches a channel off).
FILM_INIT_STD = 0.1
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


def unmodulated(x: KerasTensor, name: str) -> KerasTensor:
    """No conditioning after a normalization."""
    return x


def film(style: Callable[[], KerasTensor]) -> Modulation:
    """FiLM from the hint vector `style()` (B, F): after a block's normalization, x * (1 + gamma)
    + beta, with gamma and beta (B, 1, 1, C) from one Dense each (zero biases, small kernels:
    FILM_INIT_STD). Layers `<block>_film_gamma`, `<block>_film_beta`, ..., `<block>_film`."""

    def modulate(x: KerasTensor, name: str) -> KerasTensor:
        vector = style()
        init = keras.initializers.RandomNormal(0.0, FILM_INIT_STD / math.sqrt(vector.shape[-1]))
        channels = x.shape[-1]
        gamma, beta = (
            layers.Reshape((1, 1, channels), name=f"{name}_film_{part}_map")(
                layers.Dense(channels, kernel_initializer=init, name=f"{name}_film_{part}")(vector)
            )
            for part in ("gamma", "beta")
        )  # (1, 1, C) each: broadcast over the positions
        scaled = layers.Multiply(name=f"{name}_film_scaled")([x, gamma])  # (H, W, C)
        return layers.Add(name=f"{name}_film")([x, scaled, beta])  # x (1 + gamma) + beta

    return modulate


def hint_vector(hint: KerasTensor, width: int, hint_norm: HintNorm) -> KerasTensor:
    """The hint (4096 for fc1) -> Dense(width) -> the paper's "global normalization" ->
    (width,)."""
    style = layers.Dense(width, kernel_initializer=kernel_init(), name="hint_dense")(hint)
    if hint_norm == "layer":  # zero mean, unit variance over the `width` values
        style = layers.LayerNormalization(center=False, scale=False, name="hint_norm")(style)
    return style


def conv_block(
    x,
    filters: int,
    norm: NormLayer,
    name: str,
    strides: int = 1,
    leaky: bool = True,
    modulate: Modulation = unmodulated,
):
    """3x3 convolution, normalization, [FiLM], (Leaky)ReLU."""
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", kernel_initializer=kernel_init(),
        use_bias=False, name=f"{name}_conv",
    )(x)  # fmt: skip
    x = modulate(norm(name=f"{name}_norm")(x), name)
    return (
        layers.LeakyReLU(0.2, name=f"{name}_act")(x)
        if leaky
        else layers.ReLU(name=f"{name}_act")(x)
    )


def up_block(x, filters: int, norm: NormLayer, name: str, modulate: Modulation = unmodulated):
    """Transposed 3x3 convolution, stride 2: twice the size; normalization, [FiLM], ReLU."""
    x = layers.Conv2DTranspose(
        filters, 3, strides=2, padding="same", kernel_initializer=kernel_init(),
        use_bias=False, name=f"{name}_conv",
    )(x)  # fmt: skip
    x = modulate(norm(name=f"{name}_norm")(x), name)
    return layers.ReLU(name=f"{name}_act")(x)


def bottleneck_block(x, norm: NormLayer, name: str, modulate: Modulation = unmodulated):
    """ResNet's bottleneck: 1x1 to a quarter of the width, 3x3, 1x1 back, added to the input.
    `modulate` follows the expand norm, the last normalization before the branch joins x."""
    width = x.shape[-1]
    y = layers.Conv2D(width // 4, 1, kernel_initializer=kernel_init(), name=f"{name}_reduce")(x)
    y = layers.ReLU(name=f"{name}_reduce_act")(norm(name=f"{name}_reduce_norm")(y))
    y = conv_block(y, width // 4, norm, f"{name}_mid", leaky=False)
    y = layers.Conv2D(width, 1, kernel_initializer=kernel_init(), name=f"{name}_expand")(y)
    y = modulate(norm(name=f"{name}_expand_norm")(y), f"{name}_expand")
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
    hint_injection: HintInjection = "film_all",
    hint_features: int = DEFAULT_HINT_WIDTH,
) -> keras.Model:
    """Inputs: a sketch (S, S, 3) in [-1, 1] and the reference's hint (hint_features,): VGG19
    fc1's 4096 values, or the hint encoder's other width (ganime_core/hints.py). Outputs: the
    painting (S, S, 3), guide decoder 1's grayscale painting (S, S, 1) and guide decoder 2's
    painting (S, S, 3), all in [-1, 1]. `hint_injection`: see the module's text."""
    b = base_filters
    norm_layer = partial(normalization, norm, synchronized)
    sketch = layers.Input((image_size, image_size, 3), name="sketch")
    hint = layers.Input((hint_features,), name="hint")

    # Encoder, two convolutions per level: 256x256x16 -> 128x128x32 -> ... -> 16x16x256
    skips = []
    x = sketch
    for level in range(ENCODER_LEVELS):
        width = b * 2**level
        x = conv_block(x, width, norm_layer, f"enc{level}_a", strides=1 if level == 0 else 2)
        x = conv_block(x, width, norm_layer, f"enc{level}_b")
        skips.append(x)
    guide1 = guide_decoder(x, 1, norm_layer, "guide1")  # (S, S, 1): before the hint

    # The hint vector (2048,), built where it is first used: after mid_entry in add mode, so
    # that mode draws its initial weights in the order it always has (same seed, same net).
    style = cache(partial(hint_vector, hint, b * 128, hint_norm))
    mid_film = film(style) if hint_injection in ("film_mid", "film_all") else unmodulated
    dec_film = film(style) if hint_injection == "film_all" else unmodulated

    # Mid-level at 1/32: 8x8x2048, the hint added at its entry, then residual blocks.
    x = conv_block(x, b * 128, norm_layer, "mid_entry", strides=2, modulate=mid_film)
    style_map = layers.Reshape((1, 1, b * 128), name="hint_map")(style())
    x = layers.Add(name="mid_hinted")([x, style_map])  # (S/32, S/32, 128b): broadcast
    for i in range(mid_blocks):
        x = bottleneck_block(x, norm_layer, f"mid{i + 1}", mid_film)

    # Decoder: 16x16x512 (guide decoder 2 branches here) -> +256 -> 32x32x128 -> +64 -> ...
    x = up_block(x, b * 32, norm_layer, "dec_entry", dec_film)  # (S/16, S/16, 32b)
    guide2 = guide_decoder(x, 3, norm_layer, "guide2")
    x = layers.Concatenate(name="dec4_skip")([x, skips[4]])  # (S/16, S/16, 32b + 16b)
    for level, width in ((3, b * 8), (2, b * 4), (1, b * 2)):
        x = up_block(x, width, norm_layer, f"dec{level}_up", dec_film)  # (S/2^level, .., width)
        skip = layers.Conv2D(width // 2, 1, kernel_initializer=kernel_init(),
                             name=f"skip{level}_proj")(skips[level])  # fmt: skip
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skip])
    x = up_block(x, b * 4, norm_layer, "dec0_up", dec_film)  # (S, S, 4b)
    painting = layers.Conv2D(3, 3, padding="same", kernel_initializer=kernel_init(),
                             name="painting_image")(x)  # fmt: skip
    painting = layers.Activation("tanh", dtype=FLOAT32, name="painting")(painting)
    return keras.Model([sketch, hint], [painting, guide1, guide2], name="residual_unet")


def figure_shapes(generator: keras.Model) -> dict[str, list[int]]:
    """Each FIGURE_LAYERS output's shape (H, W, C), by layer name."""
    return {name: list(generator.get_layer(name).output.shape[1:]) for name in FIGURE_LAYERS}
