"""Colorize sketches of any size with any colorizer (ganime_core.colorizers) run at one size.

The edge of the system: uint8 RGB images in, uint8 RGB images out, each at its own size. Every
sketch (and its reference, for a method that uses one) is resized (nearest, as the data pipeline
resizes) to the method's square size, colorized in batches, and resized back (bilinear) to the
sketch's own height and width.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from ganime_core.colorizers import Colorizer
from ganime_core.data.pipeline import to_float, to_uint8


class UnreadableImageError(ValueError):
    """An input that is not an image this module can read (corrupt, missing, wrong shape)."""


def read_image(source: bytes | str | Path | np.ndarray | list) -> np.ndarray:
    """An image as uint8 (h, w, 3) RGB from encoded bytes, a file path, or an array (h, w, 3)
    or (h, w) of values in 0..255; alpha is dropped, greyscale is repeated."""
    try:
        if isinstance(source, bytes):
            with Image.open(io.BytesIO(source)) as image:
                return np.asarray(image.convert("RGB"))
        if isinstance(source, (str, Path)):
            with Image.open(source) as image:
                return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise UnreadableImageError(str(exc) or type(exc).__name__) from None
    array = np.asarray(source)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 1:
        raise UnreadableImageError(f"expected an (h, w, 3) image, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or array.min() < 0 or array.max() > 255:
            raise UnreadableImageError("pixel values must be numbers in 0..255")
        array = array.astype(np.uint8)
    return array[..., :3]


def colorize_images(
    colorizer: Colorizer,
    images: Sequence[np.ndarray],
    image_size: int,
    batch_size: int = 16,
    references: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """uint8 (h_i, w_i, 3) sketches (and, for a method that uses them, one uint8 reference per
    sketch) -> uint8 (h_i, w_i, 3) colour images, in order."""

    def square(chunk: Sequence[np.ndarray]) -> tf.Tensor:  # (n, s, s, 3) in [-1, 1]
        resized = [tf.image.resize(i, [image_size, image_size], method="nearest") for i in chunk]
        return to_float(tf.cast(tf.stack(resized), tf.uint8))

    colorized: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        reference = None
        if references is not None:
            reference = square(references[start : start + batch_size])
        colour = colorizer(square(chunk), reference)  # (n, s, s, 3) in [-1, 1]
        for image, generated in zip(chunk, colour, strict=True):
            height, width = image.shape[:2]
            if (height, width) != (image_size, image_size):
                generated = tf.image.resize(generated, [height, width], method="bilinear")
            colorized.append(to_uint8(generated).numpy())
    return colorized
