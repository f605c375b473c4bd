"""Style2paints' frozen hint encoder: what the reference image becomes before the generator sees
it (`model.hint`), the one place that builds it (the family, and a logged MLflow model's
colorizer, call `hint_encoder`).

- vgg19_fc1: the paper's, VGG19's fc1 before its ReLU (ganime_core/vgg.py), 4096 values.
  Without ImageNet weights a seeded untrained VGG19 stands in, whose fc1 was measured not to
  carry the reference's colours: a generator trained where only the reference knows them
  barely moves when the reference changes.
- colour_thumbnail: the reference area-averaged to THUMBNAIL_SIZE x THUMBNAIL_SIZE, its 192
  values in [-1, 1]. It carries the reference's colours and layout and nothing learned, a
  hint needing no weights; but a colour by position, not by part: a generator trained on it
  copies colours to where the reference had them, so a reference with other hair paints the
  sketch's face partly in the hair's colour.
- annotated_palette: the colour of every part the reference shows, as generated data's
  palettes.json names them (PaletteMatcher: found by the reference's exact colours), with a
  flag per part: what a perfect part-aware encoder would give. Generated data only; a control
  that separates the generator's design from the encoder's, so the ImageNet VGG19 is the only
  unknown left. Its "weights" are the data set's palettes.json, logged with the model.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ganime_core.config import ExperimentConfig, Style2paintsSettings
from ganime_core.data.annotations import PaletteMatcher
from ganime_core.data.pipeline import data_root, to_uint8
from ganime_core.data.synth import PALETTE_PARTS, PALETTES_FILE
from ganime_core.errors import DataError, GanimeError
from ganime_core.precision import FLOAT32
from ganime_core.pretrained import vgg19_weights
from ganime_core.vgg import FC1_FEATURES, VGG19_STANDIN_SEED, vgg19_fc1

# 8x8 cells: coarse enough that a painting's layout barely shows, fine enough that a palette's
# few colours each fill some cells (a 32-256 px reference: 4-32 px per cell).
THUMBNAIL_SIZE = 8
THUMBNAIL_FEATURES = THUMBNAIL_SIZE * THUMBNAIL_SIZE * 3  # 192
# Per part of PALETTE_PARTS: its RGB in [-1, 1] (0 where not shown), then a shown flag (+-1).
PALETTE_FEATURES = len(PALETTE_PARTS) * 4  # 32
HINT_FEATURES = {
    "vgg19_fc1": FC1_FEATURES,
    "colour_thumbnail": THUMBNAIL_FEATURES,
    "annotated_palette": PALETTE_FEATURES,
}


def hint_features(settings: Style2paintsSettings) -> int:
    """The hint's width: the generator's hint input and the AC-GAN discriminator's outputs."""
    return HINT_FEATURES[settings.hint]


def hint_encoder(settings: Style2paintsSettings, weights: Path | None) -> HintEncoder:
    """Images (n, h, w, 3) in [-1, 1] -> the hint (n, hint_features(settings)), frozen.
    `weights`: Keras' VGG19 file for vgg19_fc1 (None: the seeded stand-in), the data set's
    palettes.json for annotated_palette (None: shapes only, it then encodes nothing);
    colour_thumbnail has none."""
    if settings.hint == "vgg19_fc1":
        return vgg19_fc1(weights)
    if settings.hint == "annotated_palette":
        return AnnotatedPalette(weights)
    return colour_thumbnail()


def hint_file(config: ExperimentConfig) -> Path | None:
    """The file the hint encoder of `config`'s Style2paints reads: VGG19's weights (fetched if
    missing and allowed; None where the seeded stand-in is allowed instead), the data set's
    palettes.json (DataError if the data has none: not generated data), or None."""
    settings = config.model
    assert isinstance(settings, Style2paintsSettings)
    if settings.hint == "vgg19_fc1":
        return vgg19_weights(settings, config.assets)
    if settings.hint == "annotated_palette":
        root = data_root(config.data)
        path = root / PALETTES_FILE
        if not path.is_file():
            raise DataError(
                f"model.hint annotated_palette reads the palettes of generated data, and {root} "
                f"has no {PALETTES_FILE}: leave data.path unset (or point it at `ganime data "
                "synth` output), or choose another model.hint"
            )
        return path
    return None


def standin(settings: Style2paintsSettings, weights: Path | None) -> bool:
    """Whether the encoder built from `weights` is a stand-in, which marks the metrics
    (_untrained_vgg19; pretrained.standins agrees before it is built): the seeded VGG19."""
    return settings.uses_vgg19 and weights is None


def encoder_identity(settings: Style2paintsSettings, weights: Path | None) -> str:
    """What the encoder's output depends on besides its definition, for a cache key: the
    hint kind and its weights (VGG19's or palettes.json's path, size and modification time,
    or the seeded stand-in)."""
    if settings.hint == "colour_thumbnail":
        return f"{settings.hint} {THUMBNAIL_SIZE}"
    if weights is None:
        return f"{settings.hint} standin seed {VGG19_STANDIN_SEED}"
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


class AnnotatedPalette:
    """Images (n, h, w, 3) in [-1, 1] -> (n, 32): for each part of PALETTE_PARTS, the colour
    its palette gives it where the image shows it (RGB in [-1, 1], else 0), then one flag per
    part, +1 shown, -1 not. The palette is the one of `palettes_file` (a generated data set's
    palettes.json) the image is painted in. Frozen, no weights; called eagerly (the family
    caches every training hint, and a colorizer runs eagerly)."""

    name = "annotated_palette"
    compute_dtype = FLOAT32
    trainable_variables: tuple[tf.Variable, ...] = ()

    def __init__(self, palettes_file: Path | None) -> None:
        self.palettes_file = palettes_file
        self._matcher = PaletteMatcher.of(palettes_file) if palettes_file is not None else None

    def __call__(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        if self._matcher is None:
            raise GanimeError(
                "this annotated_palette hint was built for shapes only and knows no palette: "
                "build the family with its data set (pretrained)"
            )
        palettes, shown = self._matcher.match(to_uint8(images).numpy())
        colours = np.where(shown[..., None], palettes / 127.5 - 1.0, 0.0)  # (n, P, 3)
        flags = np.where(shown, 1.0, -1.0)  # (n, P)
        hint = np.concatenate([colours.reshape(len(palettes), -1), flags], axis=1)
        return tf.constant(hint, FLOAT32)


HintEncoder = keras.Model | AnnotatedPalette
