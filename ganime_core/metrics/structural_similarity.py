"""SSIM exactly as the paper calls it: tf.image.ssim on uint8 images with max_val 255."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# The paper's arguments (also tf.image.ssim's defaults, spelled out so a default change cannot
# silently move the numbers).
SSIM_ARGS = dict(max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03)


def ssim_per_pair(images_a: np.ndarray | tf.Tensor, images_b: np.ndarray | tf.Tensor) -> np.ndarray:
    """SSIM of each pair of uint8 (n, h, w, 3) images, over the colour channels; shape (n,)."""
    a = tf.convert_to_tensor(images_a)
    b = tf.convert_to_tensor(images_b)
    if a.dtype != tf.uint8 or b.dtype != tf.uint8:
        raise TypeError(f"SSIM is measured on uint8 images; got {a.dtype.name} and {b.dtype.name}")
    if a.shape.rank != 4 or a.shape != b.shape:
        raise ValueError(f"need two (n, h, w, c) batches of one shape; got {a.shape} and {b.shape}")
    return tf.image.ssim(a, b, **SSIM_ARGS).numpy()


def ssim(images_a: np.ndarray | tf.Tensor, images_b: np.ndarray | tf.Tensor) -> float:
    """Mean SSIM over the pairs, the paper's figure."""
    return float(ssim_per_pair(images_a, images_b).mean())
