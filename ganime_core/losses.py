"""Loss terms of Pix2Pix (+TV), CycleGAN and Style2paints V1 as plain functions.

Every function returns one value per example, shape (B,): the train steps average them over the
global batch with tf.nn.compute_average_loss, which is what makes data-parallel training exact.
"""

from __future__ import annotations

from typing import Literal

import tensorflow as tf

# Keeps the isotropic TV's sqrt differentiable where the image is flat.
TV_L2_EPSILON = 1e-8


def _per_example_mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def adversarial_loss(logits: tf.Tensor, real: bool) -> tf.Tensor:
    """Binary cross-entropy from raw PatchGAN logits against all-real or all-fake labels."""
    labels = tf.ones_like(logits) if real else tf.zeros_like(logits)
    return _per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def l1_loss(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference: Pix2Pix reconstruction, CycleGAN cycle and identity terms."""
    return _per_example_mean(tf.abs(a - b))


def total_variation_loss(images: tf.Tensor, norm: Literal["l1", "l2"] = "l1") -> tf.Tensor:
    """Total variation of (B, H, W, C) images: mean |dx| + mean |dy| (l1, anisotropic), or the
    mean gradient magnitude sqrt(dx^2 + dy^2) over pixels that have both neighbours (l2, isotropic).
    """
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]  # (B, H, W-1, C)
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]  # (B, H-1, W, C)
    if norm == "l1":
        return _per_example_mean(tf.abs(dx)) + _per_example_mean(tf.abs(dy))
    magnitude = tf.sqrt(dx[:, :-1] ** 2 + dy[:, :, :-1] ** 2 + TV_L2_EPSILON)  # (B, H-1, W-1, C)
    return _per_example_mean(magnitude)


def pix2pix_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """BCE(real, 1) + BCE(fake, 0), unscaled as in the paper."""
    return adversarial_loss(real_logits, real=True) + adversarial_loss(fake_logits, real=False)


def cyclegan_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """0.5 * (BCE(real, 1) + BCE(fake, 0)): halved so D learns slower than the generators."""
    return 0.5 * pix2pix_discriminator_loss(real_logits, fake_logits)


def cycle_consistency_loss(
    real_x: tf.Tensor, cycled_x: tf.Tensor, real_y: tf.Tensor, cycled_y: tf.Tensor
) -> tf.Tensor:
    """|x - F(G(x))| + |y - G(F(y))|: both cycles, each weighted by lambda_cycle."""
    return l1_loss(real_x, cycled_x) + l1_loss(real_y, cycled_y)


def grayscale(images: tf.Tensor) -> tf.Tensor:
    """T(y): (B, H, W, 3) colour in [-1, 1] -> (B, H, W, 1) luminance (ITU-R 601), in [-1, 1]
    since the weights sum to 1."""
    return tf.image.rgb_to_grayscale(images)


def guided_l1_loss(
    target: tf.Tensor,
    painting: tf.Tensor,
    guide1: tf.Tensor,
    guide2: tf.Tensor,
    alpha: float,
    beta: float,
) -> tf.Tensor:
    """Style2paints' eq. 2: |y - G_f| + alpha |T(y) - G_g1| + beta |y - G_g2|, per example. Guide
    decoder 1 (before the hint) predicts the grayscale target, guide decoder 2 the colour one."""
    return (
        l1_loss(target, painting)
        + alpha * l1_loss(grayscale(target), guide1)
        + beta * l1_loss(target, guide2)
    )


def acgan_discriminator_loss(
    real_out: tf.Tensor, fake_out: tf.Tensor, real_hint: tf.Tensor
) -> tf.Tensor:
    """Style2paints' AC-GAN discriminator (its eq. 3, in least-squares form): its 4096 outputs
    pushed to the real painting's VGG19 fc1 for that painting and to 0 for a generated one.
    mean_k (D(y)_k - V(y)_k)^2 + mean_k D(G(x))_k^2, per example."""
    return tf.reduce_mean(tf.square(real_out - real_hint), axis=1) + tf.reduce_mean(
        tf.square(fake_out), axis=1
    )


def acgan_generator_loss(fake_out: tf.Tensor, real_hint: tf.Tensor) -> tf.Tensor:
    """The generator's side: its painting judged as the real one would be,
    mean_k (D(G(x))_k - V(y)_k)^2, per example."""
    return tf.reduce_mean(tf.square(fake_out - real_hint), axis=1)
