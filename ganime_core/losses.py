"""Loss terms of Pix2Pix (+TV), CycleGAN and Style2paints V1 as plain functions.

Every function returns one value per example, shape (B,): the train steps average them over the
global batch with tf.nn.compute_average_loss, which is what makes data-parallel training exact.
The one term that is not a mean of per-example terms, the authors' whole-batch TV (`l2_batch`),
all-reduces its sum over the replicas first and is exact too (`_batch_l2_norm`).
"""

from __future__ import annotations

from typing import Literal

import tensorflow as tf

# Keeps the isotropic TVs' sqrt differentiable where the image is flat.
TV_L2_EPSILON = 1e-8

# The TV norms a config may name (Pix2PixSettings.tv_norm).
TVNorm = Literal["l1", "l2", "l2_batch"]


def _per_example_mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def adversarial_loss(logits: tf.Tensor, real: bool) -> tf.Tensor:
    """Binary cross-entropy from raw PatchGAN logits against all-real or all-fake labels."""
    labels = tf.ones_like(logits) if real else tf.zeros_like(logits)
    return _per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def l1_loss(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference: Pix2Pix reconstruction, CycleGAN cycle and identity terms."""
    return _per_example_mean(tf.abs(a - b))


def total_variation_loss(images: tf.Tensor, norm: TVNorm = "l1") -> tf.Tensor:
    """Total variation of (B, H, W, C) images, one value per example, with dx, dy the differences
    of horizontally and vertically adjacent pixels (N of them per example and direction):

    - l1 (anisotropic, the paper's table and default): mean|dx| + mean|dy|, per example.
    - l2 (isotropic, GANime's): the mean gradient magnitude sqrt(dx^2 + dy^2 + 1e-8) over the
      pixels that have both a right and a lower neighbour, per example: between 1/sqrt(2) and 1
      of l1 (0.94 of it on generated 256 px characters), the same scale.
    - l2_batch (the authors' code: one L2 norm of all the batch's differences):
      sqrt(sum dx^2 + sum dy^2 + 1e-8) over the whole global batch, what their
      `tf.sqrt(2 * (tf.nn.l2_loss(dx) + tf.nn.l2_loss(dy)))` computes (the paper's formula
      calls its TV "isotropic L2"). Returned as that one value for every example, so its
      compute_average_loss over the global batch is the norm itself. A norm of the 2 B N C
      differences, not a mean: sqrt(2 B N C) x their root-mean-square, so the same lambda_tv
      weighs it about 1,800x GANime's l2 on one 256 px image and about 11,600x on a batch of
      32, the paper's (generated characters; tests/core/test_losses.py).

    The paper's 1e-4 on l1 or l2 adds to a pixel at most 4 lambda_tv / N of gradient against
    L1's lambda_l1 / N: where the weight acts is measured by bench/weight_response.py.
    """
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]  # (B, H, W-1, C)
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]  # (B, H-1, W, C)
    if norm == "l1":
        return _per_example_mean(tf.abs(dx)) + _per_example_mean(tf.abs(dy))
    if norm == "l2_batch":
        return _batch_l2_norm(dx, dy)
    magnitude = tf.sqrt(dx[:, :-1] ** 2 + dy[:, :, :-1] ** 2 + TV_L2_EPSILON)  # (B, H-1, W-1, C)
    return _per_example_mean(magnitude)


def _batch_l2_norm(dx: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """sqrt(S + eps), S = sum dx^2 + sum dy^2 over the global batch, as (B,) copies of it.

    Exact under any strategy. Replica r holds B_r of the global batch's B examples and sums its
    own squares, S_r; the replica context's all-reduce gives every replica S = sum_r S_r (the
    default strategy's context is one replica: S = S_r). Replica r returns B_r copies of
    sqrt(S), so its compute_average_loss share is L_r = (B_r / B) sqrt(S), and the shares sum
    to sqrt(S), the value one process computes on the whole batch. Gradient: TensorFlow's
    gradient of an all-reduce sum is the all-reduce sum of the upstream gradients
    (ReplicaContext.all_reduce's custom gradient). Upstream of S on replica r' is
    (B_r' / B) / (2 sqrt(S)); summed over the replicas that is 1 / (2 sqrt(S)), the full
    d sqrt(S) / dS, which reaches S_r on each replica. So replica r's gradient with respect to its
    own images is d sqrt(S) / d x_r, exactly the single-process gradient's rows for them, and
    the optimizer's all-reduce of the weight gradients sums sum_r d sqrt(S)/d x_r d x_r/d theta
    = d sqrt(S) / d theta. (Were the all-reduce's gradient the identity, each replica would see
    only B_r / B of it.)
    """
    local = tf.reduce_sum(tf.square(dx)) + tf.reduce_sum(tf.square(dy))
    context = tf.distribute.get_replica_context()
    # None in a strategy's cross-replica context: the images there are the whole batch.
    total = local if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    norm = tf.sqrt(total + TV_L2_EPSILON)
    return tf.ones([tf.shape(dx)[0]], norm.dtype) * norm


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
