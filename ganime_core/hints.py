"""Style2paints' frozen hint encoder: what the reference image becomes before the generator sees
it (`model.hint`), the one place that builds it (the family, and a logged MLflow model's
colorizer, call `hint_encoder`).

- vgg19_fc1: the paper's, VGG19's fc1 before its ReLU (ganime_core/vgg.py), 4096 values.
  Without ImageNet weights a seeded untrained VGG19 stands in, whose fc1 was measured not to
  carry the reference's colours: a generator trained where only the reference knows them
  barely moves when the reference changes.
- colour_thumbnail: the reference area-averaged to THUMBNAIL_SIZE x THUMBNAIL_SIZE, its 192
  values in [-1, 1]. It carries the reference's colours and layout and nothing learned: a
  control needing no weights, with which the rest of the design can be measured, leaving the
  ImageNet VGG19 the only unknown.
"""

from __future__ import annotations

from pathlib import Path

import keras

from ganime_core.config import Style2paintsSettings
from ganime_core.precision import FLOAT32
from ganime_core.vgg import FC1_FEATURES, UNTRAINED_SEED, vgg19_fc1

# 8x8 cells: coarse enough that a painting's layout barely shows, fine enough that a palette's
# few colours each fill some cells (a 32-256 px reference: 4-32 px per cell).
THUMBNAIL_SIZE = 8
THUMBNAIL_FEATURES = THUMBNAIL_SIZE * THUMBNAIL_SIZE * 3  # 192


def hint_features(settings: Style2paintsSettings) -> int:
    """The hint's width: the generator's hint input and the AC-GAN discriminator's outputs."""
    return FC1_FEATURES if settings.uses_vgg19 else THUMBNAIL_FEATURES


def hint_encoder(settings: Style2paintsSettings, weights: Path | None) -> keras.Model:
    """Images (n, h, w, 3) in [-1, 1] -> the hint (n, hint_features(settings)), frozen.
    `weights`: Keras' VGG19 file for vgg19_fc1 (None: the seeded stand-in); ignored by
    colour_thumbnail, which has none."""
    if settings.uses_vgg19:
        return vgg19_fc1(weights)
    return colour_thumbnail()


def standin(settings: Style2paintsSettings, weights: Path | None) -> bool:
    """Whether the encoder built from `weights` is a stand-in, which marks the metrics
    (_untrained_vgg19; pretrained.standins agrees before it is built): the seeded VGG19."""
    return settings.uses_vgg19 and weights is None


def encoder_identity(settings: Style2paintsSettings, weights: Path | None) -> str:
    """What the encoder's output depends on besides its definition, for a cache key: the
    hint kind and, for vgg19_fc1, its weights (the file's path, size and modification time,
    or the seeded stand-in)."""
    if not settings.uses_vgg19:
        return f"{settings.hint} {THUMBNAIL_SIZE}"
    if weights is None:
        return f"{settings.hint} standin seed {UNTRAINED_SEED}"
    stat = weights.stat()
    return f"{settings.hint} {weights.resolve()} {stat.st_size} {stat.st_mtime_ns}"


def colour_thumbnail() -> keras.Model:
    """Images (n, h, w, 3) in [-1, 1] -> (n, 192): each 8x8 cell's mean colour, row by row,
    RGB within a cell. Area resizing: where h and w are multiples of 8, a cell is the exact
    mean of its h/8 x w/8 pixels, so the values stay in [-1, 1]. float32 under any precision:
    192 numbers cost nothing, and a half type would round the colours they carry."""
    images = keras.Input((None, None, 3), name="reference")
    cells = keras.layers.Resizing(
        THUMBNAIL_SIZE, THUMBNAIL_SIZE, interpolation="area", dtype=FLOAT32, name="to_8x8"
    )(images)
    out = keras.layers.Flatten(dtype=FLOAT32, name="flatten")(cells)  # (n, 8 * 8 * 3)
    model = keras.Model(images, out, name="colour_thumbnail")
    model.trainable = False
    return model
