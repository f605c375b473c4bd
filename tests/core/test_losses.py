"""Loss terms against hand-computed values on small tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from ganime_core.losses import (
    adversarial_loss,
    cycle_consistency_loss,
    cyclegan_discriminator_loss,
    l1_loss,
    pix2pix_discriminator_loss,
    total_variation_loss,
)

# One 3x3 single-channel image, values chosen so every difference is distinct.
IMAGE = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0], [1.0, 4.0, 4.0]], np.float32)


def batch(*images: np.ndarray) -> tf.Tensor:
    return tf.constant(np.stack([im[..., None] for im in images]), tf.float32)


def test_tv_l1_is_mean_abs_dx_plus_mean_abs_dy() -> None:
    # |dx| rows: [1, 2], [0, 2], [3, 0] -> mean 8/6; |dy| columns: [2, 1], [1, 2], [3, 4] -> 13/6
    expected = 8 / 6 + 13 / 6
    assert float(total_variation_loss(batch(IMAGE), "l1")[0]) == pytest.approx(expected)


def test_tv_l2_is_mean_gradient_magnitude() -> None:
    # Pixels with a right and a lower neighbour: (0,0), (0,1), (1,0), (1,1).
    # (dx, dy): (1, 2), (2, 1), (0, -1), (-2, 2)
    magnitudes = [math.sqrt(5), math.sqrt(5), 1.0, math.sqrt(8)]
    expected = sum(magnitudes) / 4
    assert float(total_variation_loss(batch(IMAGE), "l2")[0]) == pytest.approx(expected, rel=1e-6)


def test_tv_is_per_example_and_zero_for_flat_images() -> None:
    flat = np.full((3, 3), 0.7, np.float32)
    values = total_variation_loss(batch(flat, IMAGE), "l1").numpy()
    assert values.shape == (2,)
    assert values[0] == 0.0
    assert values[1] == pytest.approx(21 / 6)
    assert float(total_variation_loss(batch(flat), "l2")[0]) == pytest.approx(0.0, abs=1e-4)


def test_tv_l2_gradient_is_finite_on_flat_images() -> None:
    flat = tf.Variable(tf.zeros((1, 4, 4, 3)))
    with tf.GradientTape() as tape:
        loss = total_variation_loss(flat, "l2")
    assert np.all(np.isfinite(tape.gradient(loss, flat).numpy()))


def test_adversarial_loss_is_bce_from_logits_per_example() -> None:
    logits = tf.constant([[[[0.0]], [[2.0]]], [[[-1.0]], [[1.0]]]])  # (2, 2, 1, 1)
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    real = adversarial_loss(logits, real=True).numpy()
    fake = adversarial_loss(logits, real=False).numpy()
    assert real[0] == pytest.approx((-math.log(0.5) - math.log(sigmoid(2))) / 2, rel=1e-6)
    assert fake[1] == pytest.approx((-math.log(1 - sigmoid(-1)) - math.log(1 - sigmoid(1))) / 2)


def test_pix2pix_and_cyclegan_discriminator_losses() -> None:
    real_logits = tf.constant([[[[3.0]]]])
    fake_logits = tf.constant([[[[-0.5]]]])
    softplus = lambda z: math.log1p(math.exp(z))  # noqa: E731
    # BCE(real, 1) = softplus(-z); BCE(fake, 0) = softplus(z)
    unscaled = softplus(-3.0) + softplus(-0.5)
    assert float(pix2pix_discriminator_loss(real_logits, fake_logits)[0]) == pytest.approx(unscaled)
    assert float(cyclegan_discriminator_loss(real_logits, fake_logits)[0]) == pytest.approx(
        0.5 * unscaled
    )


def test_l1_and_cycle_consistency_on_known_tensors() -> None:
    x = tf.constant(np.zeros((2, 2, 2, 3), np.float32))
    cycled_x = tf.constant(np.full((2, 2, 2, 3), 0.25, np.float32))
    y = tf.constant(np.ones((2, 2, 2, 3), np.float32))
    cycled_y = tf.constant(
        np.concatenate([np.ones((1, 2, 2, 3)), -np.ones((1, 2, 2, 3))]), tf.float32
    )
    np.testing.assert_allclose(l1_loss(x, cycled_x).numpy(), [0.25, 0.25])
    # Sample 0: 0.25 + 0; sample 1: 0.25 + 2
    np.testing.assert_allclose(
        cycle_consistency_loss(x, cycled_x, y, cycled_y).numpy(), [0.25, 2.25]
    )
