"""Loss terms against hand-computed values on small tensors."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ganime_core.data.synth import render_character
from ganime_core.losses import (
    adversarial_loss,
    cycle_consistency_loss,
    cyclegan_discriminator_loss,
    l1_loss,
    pix2pix_discriminator_loss,
    total_variation_loss,
)
from tests.support.processes import run_on_two_cpus

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


def authors_tv_l2(images: tf.Tensor) -> float:
    """taivu1998/GANime, models/Pix2PixModel.py, total_variation_loss(norm_tv_loss='l2')."""
    x_deltas = images[:, :, 1:, :] - images[:, :, :-1, :]
    y_deltas = images[:, 1:, :, :] - images[:, :-1, :, :]
    return float(tf.reduce_mean(tf.sqrt(2 * (tf.nn.l2_loss(x_deltas) + tf.nn.l2_loss(y_deltas)))))


def test_tv_l2_batch_is_the_authors_one_norm_of_the_whole_batch() -> None:
    # IMAGE's dx: 1, 2, 0, -2, 3, 0 (squares sum to 18); dy: 2, 1, -3, -1, 2, 4 (35). The flat
    # image adds nothing, and both examples carry the batch's one norm.
    images = batch(IMAGE, np.full((3, 3), 0.7, np.float32))
    values = total_variation_loss(images, "l2_batch").numpy()
    np.testing.assert_allclose(values, [math.sqrt(53)] * 2, rtol=1e-6)
    assert float(tf.nn.compute_average_loss(values)) == pytest.approx(math.sqrt(53), rel=1e-6)
    noise = tf.constant(np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)), tf.float32)
    np.testing.assert_allclose(
        total_variation_loss(noise, "l2_batch").numpy(), [authors_tv_l2(noise)] * 3, rtol=1e-6
    )


def generated_characters(count: int, size: int = 256) -> tf.Tensor:
    """The synthetic data set's colour images (flat regions, dark outlines) in [-1, 1]."""
    colours = [render_character(np.random.default_rng([0, i]), size)[0] for i in range(count)]
    return tf.constant(np.stack(colours).astype(np.float32) / 127.5 - 1)


def test_tv_l2_batch_is_about_two_thousand_times_ganimes_per_pixel_tvs_on_one_image() -> None:
    """The issue's scale: a norm of N = 2 x 256 x 255 x 3 differences against their mean is
    sqrt(N) (= 626) x rms / mean; on anime-like images (most differences 0, a few large at the
    outlines) rms / mean is about 3. Measured when written: 1,780x l2, 1,680x l1 (l2 is 0.94 of
    l1); on a batch of 32 (the paper's) another sqrt(32): 11,600x l2."""
    image = generated_characters(1)
    l1, l2, l2_batch = (float(total_variation_loss(image, n)[0]) for n in ("l1", "l2", "l2_batch"))
    assert l2_batch == pytest.approx(authors_tv_l2(image), rel=1e-6)
    assert 1500 < l2_batch / l2 < 2100, (l1, l2, l2_batch)
    assert 1400 < l2_batch / l1 < 2000, (l1, l2, l2_batch)
    assert 1 / math.sqrt(2) < l2 / l1 < 1


TWO_REPLICAS_TV = textwrap.dedent(
    """
    import sys

    import numpy as np
    import tensorflow as tf

    from ganime_core.losses import total_variation_loss

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    scale = np.array([0.5, 1.0, 2.0], np.float32)  # a weight each channel is multiplied by


    def loss_and_gradients(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.nn.compute_average_loss(total_variation_loss(x * w, "l2_batch"))
        dx, dw = tape.gradient(loss, [x, w])
        return loss, dx, dw


    one = [t.numpy() for t in tf.function(loss_and_gradients)(images, scale)]

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(images[2 * context.replica_id_in_sync_group :][:2])
    )


    @tf.function
    def two_replicas(x):
        loss, dx, dw = strategy.run(loss_and_gradients, args=(x, tf.constant(scale)))
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)  # as train.py
        dw = strategy.reduce(tf.distribute.ReduceOp.SUM, dw, axis=None)  # as the optimizer
        return total, tf.concat(strategy.experimental_local_results(dx), axis=0), dw


    two = [t.numpy() for t in two_replicas(per_replica)]
    np.savez(sys.argv[1], images=images, scale=scale, one_loss=one[0], one_dx=one[1],
             one_dw=one[2], two_loss=two[0], two_dx=two[1], two_dw=two[2])
    """
)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_tv_l2_batch_is_exact_over_two_replicas(tmp_path: Path) -> None:
    """Two replicas of two examples each give the one-process loss of all four and its
    gradients: with respect to the images (each replica's rows) and to a weight (summed over the
    replicas, as the optimizer sums). Their differences are float32 rounding, bounded below."""
    out = tmp_path / "tv.npz"
    run_on_two_cpus(TWO_REPLICAS_TV, str(out), folder=tmp_path)
    r = np.load(out)
    # Exact values in float64: S = sum of n squared differences of y = x * w.
    x, w = r["images"].astype(np.float64), r["scale"].astype(np.float64)
    y = x * w
    dx, dy = np.diff(y, axis=2), np.diff(y, axis=1)
    n = dx.size + dy.size
    norm = math.sqrt((dx**2).sum() + (dy**2).sum())
    grad_y = np.zeros_like(y)  # d norm / d y: each difference pulls both of its pixels
    grad_y[:, :, 1:] += dx / norm
    grad_y[:, :, :-1] -= dx / norm
    grad_y[:, 1:] += dy / norm
    grad_y[:, :-1] -= dy / norm
    grad_x, grad_w = grad_y * w, (grad_y * x).sum(axis=(0, 1, 2))
    # Rounding bounds (unit roundoff u; Higham, Accuracy and Stability, ch. 3-4). y = x * w and
    # each difference of it are within u |y| each, so a difference d is within 3u max|y|, a
    # square within 3u d^2 + 6u |d| max|y|. Summing n non-negative squares in any order adds
    # (n - 1) u S. So S is within (n + 2) u S + 6u max|y| sum|d|, the norm within half of that
    # relative to S, plus u. A pixel's gradient (w / norm) (d_left - d_right + d_up - d_down) is
    # within the norm's relative error of it plus, per difference, 3u max|y| |w| / norm; a
    # weight's gradient sums m = B H W of them times x, adding (m - 1) u sum|terms|.
    u = 2.0**-24
    peak = np.abs(y).max()
    abs_d = np.abs(dx).sum() + np.abs(dy).sum()
    relative = ((n + 2) * u + 6 * u * peak * abs_d / norm**2) / 2 + u
    pixel_offset = 4 * 3 * u * peak / norm  # of d norm / d y, before the factor w
    m = y[..., 0].size
    weight_bound = (relative + (m + 2) * u) * np.abs(grad_y * x).sum(axis=(0, 1, 2)) + (
        pixel_offset * np.abs(x).sum(axis=(0, 1, 2))
    )
    for run in ("one", "two"):
        assert abs(float(r[f"{run}_loss"]) - norm) <= relative * norm, run
        pixel_error = np.abs(r[f"{run}_dx"] - grad_x)
        pixel_bound = (relative + 2 * u) * np.abs(grad_x) + pixel_offset * np.abs(w)
        assert (pixel_error <= pixel_bound).all(), (run, (pixel_error / pixel_bound).max())
        assert (np.abs(r[f"{run}_dw"] - grad_w) <= weight_bound).all(), (run, r[f"{run}_dw"])
    # The replicas and the one process both within the bound of the exact value; the replicas
    # would give half the gradient if TensorFlow did not all-reduce the all-reduce's gradient.
    assert (np.abs(r["two_dw"] - r["one_dw"]) <= 2 * weight_bound).all()
    assert abs(float(r["two_loss"]) - float(r["one_loss"])) <= 2 * relative * norm


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
