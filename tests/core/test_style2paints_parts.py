"""Style2paints V1's parts beside the generator: the frozen VGG19 fc1 hint, the guided L1, the
painting discriminator and its AC-GAN losses."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ganime_core.losses import (
    acgan_discriminator_loss,
    acgan_generator_loss,
    grayscale,
    guided_l1_loss,
)
from ganime_core.networks import painting_discriminator
from ganime_core.vgg import FC1_FEATURES, vgg19_fc1


def test_the_guided_l1_weighs_each_term_as_the_paper_writes_it() -> None:
    target = tf.fill([2, 2, 2, 3], 0.5)
    painting = tf.fill([2, 2, 2, 3], 0.0)  # |0.5 - 0| = 0.5
    guide1 = tf.fill([2, 2, 2, 1], 1.0)  # T(y) = 0.5 (weights sum to 1): |0.5 - 1| = 0.5
    guide2 = tf.fill([2, 2, 2, 3], -0.5)  # |0.5 + 0.5| = 1
    loss = guided_l1_loss(target, painting, guide1, guide2, alpha=0.3, beta=0.9).numpy()
    np.testing.assert_allclose(loss, [0.5 + 0.3 * 0.5 + 0.9 * 1.0] * 2, rtol=1e-4)
    assert loss.shape == (2,)  # per example, averaged over the global batch by the step


def test_grayscale_is_the_luminance_and_stays_in_minus_1_1() -> None:
    colours = tf.constant([[[[1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]]])  # red, white
    gray = grayscale(colours).numpy()[0, 0, :, 0]
    np.testing.assert_allclose(gray, [0.2989 - 0.587 - 0.114, 1.0], atol=1e-3)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_the_fc1_hint_is_4096_wide_before_relu_frozen_and_seeded() -> None:
    hint = vgg19_fc1(None)
    rng = np.random.default_rng(0)
    references = rng.uniform(-1, 1, (2, 40, 48, 3)).astype(np.float32)  # any size: resized
    values = hint(references).numpy()
    assert values.shape == (2, FC1_FEATURES)
    assert values.min() < 0  # taken before the ReLU
    assert hint.trainable_weights == []  # frozen: nothing for the optimizer
    np.testing.assert_array_equal(vgg19_fc1(None)(references).numpy(), values)  # seeded


def test_no_gradient_reaches_the_vgg19_inside_the_hint() -> None:
    hint = vgg19_fc1(None)
    reference = tf.Variable(np.zeros((1, 32, 32, 3), np.float32))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(hint(reference))
    assert all(g is None for g in tape.gradient(out, hint.weights))


@pytest.mark.parametrize("seed", [0])
def test_nst_features_and_the_hint_share_one_seeded_vgg19(seed: int) -> None:
    """NST's conv features come from the same seeded stand-in as the hint's trunk, whose first
    kernel alone is scaled to caffe's pixel scale (fc1 near unit scale, as ImageNet's)."""
    from ganime_core.vgg import vgg19_features

    features = vgg19_features(("block1_conv1", "block2_conv1"), None, seed=seed)
    hint = vgg19_fc1(None, seed=seed)
    trunk = hint.get_layer("vgg19_trunk")
    np.testing.assert_allclose(
        features.get_layer("block1_conv1").get_weights()[0],
        trunk.get_layer("block1_conv1").get_weights()[0] * 127.5,
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        features.get_layer("block2_conv1").get_weights()[0],
        trunk.get_layer("block2_conv1").get_weights()[0],
    )
    rng = np.random.default_rng(seed)
    fc1 = hint(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)).numpy()
    assert 0.3 < np.sqrt(np.mean(fc1**2)) < 3.0


def test_the_acgan_losses_regress_to_the_real_paintings_fc1_and_to_zero() -> None:
    real_hint = tf.constant([[1.0, -2.0], [0.0, 0.0]])
    real_out = tf.constant([[1.0, 0.0], [1.0, 1.0]])  # errors (0, 2) and (1, 1)
    fake_out = tf.constant([[3.0, 1.0], [0.0, 0.0]])
    d_loss = acgan_discriminator_loss(real_out, fake_out, real_hint).numpy()
    np.testing.assert_allclose(d_loss, [(0 + 4) / 2 + (9 + 1) / 2, (1 + 1) / 2 + 0.0])
    g_loss = acgan_generator_loss(fake_out, real_hint).numpy()
    np.testing.assert_allclose(g_loss, [(4 + 9) / 2, 0.0])


@pytest.mark.parametrize(("outputs", "size"), [(FC1_FEATURES, 256), (1, 32)])
def test_the_painting_discriminator_judges_a_painting_alone(outputs: int, size: int) -> None:
    model = painting_discriminator(size, 16, outputs=outputs)
    assert [tuple(i.shape[1:]) for i in model.inputs] == [(size, size, 3)]  # no sketch
    assert tuple(model.get_layer("d4").output.shape[1:]) == (size // 16, size // 16, 256)
    assert tuple(model.output.shape[1:]) == (outputs,)
