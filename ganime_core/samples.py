"""Sample grids: one row per validation sketch, sketch | generated | target, as a uint8 PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from ganime_core.data.pipeline import to_uint8


def sample_grid(sketch: tf.Tensor, generated: tf.Tensor, target: tf.Tensor) -> np.ndarray:
    """Three (B, S, S, 3) batches in [-1, 1] -> uint8 (B*S, 3*S, 3)."""
    rows = tf.concat([sketch, generated, target], axis=2)  # (B, S, 3S, 3)
    grid = tf.reshape(rows, [-1, rows.shape[2], 3])  # (B*S, 3S, 3)
    return to_uint8(grid).numpy()


def write_png(image: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
