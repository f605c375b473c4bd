"""Sample grids: one row per selection sketch, sketch | (reference |) generated | target, as a
uint8 PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from ganime_core.data.pipeline import to_uint8


def sample_grid(
    sketch: tf.Tensor,
    generated: tf.Tensor,
    target: tf.Tensor,
    reference: tf.Tensor | None = None,
) -> np.ndarray:
    """(B, S, S, 3) batches in [-1, 1] -> uint8 (B*S, k*S, 3), k = 3, or 4 with the reference
    each sketch was colorized after (second column)."""
    columns = (
        [sketch, generated, target]
        if reference is None
        else [
            sketch,
            reference,
            generated,
            target,
        ]
    )
    rows = tf.concat(columns, axis=2)  # (B, S, k*S, 3)
    grid = tf.reshape(rows, [-1, rows.shape[2], 3])  # (B*S, k*S, 3)
    return to_uint8(grid).numpy()


def write_png(image: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
