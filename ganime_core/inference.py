"""Colorize sketches of any size with a generator trained at one size.

The edge of the system: uint8 RGB images in, uint8 RGB images out, each at its own size. Every
image is resized (nearest, as training resizes sketches) to the generator's square input,
generated in batches in inference mode, and resized back (bilinear) to its own height and width.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from ganime_core.data.pipeline import to_float, to_uint8

# sketch in [-1, 1] (n, s, s, 3) -> colour in [-1, 1] (n, s, s, 3)
Generate = Callable[[tf.Tensor], tf.Tensor]


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
    generate: Generate, images: Sequence[np.ndarray], image_size: int, batch_size: int = 16
) -> list[np.ndarray]:
    """uint8 (h_i, w_i, 3) sketches -> uint8 (h_i, w_i, 3) colour images, in order."""
    colorized: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        square = tf.stack(
            [tf.image.resize(image, [image_size, image_size], method="nearest") for image in chunk]
        )  # (n, s, s, 3) uint8
        colour = generate(to_float(tf.cast(square, tf.uint8)))  # (n, s, s, 3) in [-1, 1]
        for image, generated in zip(chunk, colour, strict=True):
            height, width = image.shape[:2]
            if (height, width) != (image_size, image_size):
                generated = tf.image.resize(generated, [height, width], method="bilinear")
            colorized.append(to_uint8(generated).numpy())
    return colorized
