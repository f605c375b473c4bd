"""VGG19 with Keras' ImageNet weights, as the reference-based methods use it: the convolutions'
feature maps (NST's style and content layers) and fc1 before its ReLU (Style2paints' global
style hint). Both are frozen. GANime fetches Keras' VGG19 file *with* the top (fc1 is in it):
`ganime_core.assets.VGG19`. Without it, where a config allows, a seeded untrained VGG19 stands
in: kernels He-uniform from a NumPy generator, so they do not depend on what ran before.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ganime_core.assets import VGG19
from ganime_core.errors import GanimeError

VGG19_STANDIN_SEED = 0
FC1_FEATURES = 4096
FC1_INPUT_SIZE = 224  # the top's fixed input
FC1_FLAT = 7 * 7 * 512  # the trunk's output at 224 px, flattened: fc1's input


def imagenet_vgg19(weights: Path) -> keras.Model:
    """Keras' VGG19 with its top and the ImageNet weights of `weights`; one line if unusable."""
    try:
        return keras.applications.VGG19(include_top=True, weights=str(weights))
    except Exception as exc:  # Keras raises ValueError, OSError or h5py errors alike
        raise GanimeError(
            f"{weights}: not Keras' VGG19 weights ({type(exc).__name__}); use "
            f"{VGG19.file_name} (`ganime assets fetch {VGG19.name}`)"
        ) from None


def seed_kernels(model: keras.Model, seed: int) -> None:
    """Every kernel He-uniform from a NumPy generator seeded `seed`; biases stay zero."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.endswith("kernel"):
            variable.assign(he_uniform(rng, tuple(variable.shape)))


def he_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """He-uniform float32 values for a kernel of `shape` (fan-in: all but the last axis),
    drawn in float32: fc1's 100M values take a fraction of a second."""
    limit = np.sqrt(6.0 / int(np.prod(shape[:-1])))
    return (rng.random(shape, dtype=np.float32) * 2.0 - 1.0) * np.float32(limit)


def vgg19_features(
    layers: tuple[str, ...], weights: Path | None, seed: int = VGG19_STANDIN_SEED
) -> keras.Model:
    """VGG19 without its top, any input size, frozen, returning `layers`' outputs in order.

    `weights`: Keras' VGG19 file *with* the top (the one GANime fetches, which Style2paints
    needs whole); its convolutions are copied by layer name. None: a seeded untrained stand-in
    (kernels He-uniform from a NumPy generator, so they do not depend on what ran before).
    """
    trunk = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights is None:
        seed_kernels(trunk, seed)
    else:
        full = imagenet_vgg19(weights)
        for layer in trunk.layers:
            if layer.weights:
                layer.set_weights(full.get_layer(layer.name).get_weights())
        del full
    trunk.trainable = False
    outputs = [trunk.get_layer(name).output for name in layers]
    return keras.Model(trunk.input, outputs, name="vgg19_features")


def vgg19_fc1(weights: Path | None, seed: int = VGG19_STANDIN_SEED) -> keras.Model:
    """Images (n, h, w, 3) in [-1, 1] -> VGG19's fc1 (n, 4096) before its ReLU, frozen.

    The images are resized (bilinear) to the top's 224x224 and given Keras' VGG19
    preprocessing on 0..255; fc1's own kernel and bias are applied without the activation.
    `weights`: Keras' VGG19 file with the top; None: the seeded stand-in, whose convolutions
    are NST's stand-in's and whose fc1 kernel is drawn after them from the same generator.
    """
    trunk = keras.applications.VGG19(
        include_top=False, weights=None, input_shape=(FC1_INPUT_SIZE, FC1_INPUT_SIZE, 3)
    )
    fc1 = keras.layers.Dense(
        FC1_FEATURES, activation=None, kernel_initializer="zeros", name="fc1_linear"
    )
    fc1.build((None, FC1_FLAT))
    if weights is not None:
        full = imagenet_vgg19(weights)
        for layer in trunk.layers:
            if layer.weights:
                layer.set_weights(full.get_layer(layer.name).get_weights())
        fc1.set_weights(full.get_layer("fc1").get_weights())
        del full
    else:
        rng = np.random.default_rng(seed)
        for variable in trunk.weights:  # what seed_kernels(trunk, seed) draws, in its order
            if variable.path.endswith("kernel"):
                variable.assign(he_uniform(rng, tuple(variable.shape)))
        fc1.kernel.assign(he_uniform(rng, (FC1_FLAT, FC1_FEATURES)))
        # He-uniform kernels keep the scale of their input, here caffe's pixels (about +-128):
        # scaled by that, fc1 comes out near unit scale as ImageNet weights' does (not ~150),
        # which matters where a loss regresses onto it (the AC-GAN discriminator).
        first = trunk.get_layer("block1_conv1")
        kernel, bias = first.get_weights()
        first.set_weights([kernel / 127.5, bias])
    trunk.trainable = False
    trunk = keras.Model(trunk.input, trunk.output, name="vgg19_trunk")
    images = keras.Input((None, None, 3), name="reference")
    x = keras.layers.Resizing(FC1_INPUT_SIZE, FC1_INPUT_SIZE, name="to_224")(images)
    x = keras.layers.Lambda(
        lambda v: keras.applications.vgg19.preprocess_input((v + 1.0) * 127.5), name="caffe"
    )(x)
    flat = keras.layers.Flatten(name="flatten")(trunk(x, training=False))  # (n, 7*7*512)
    out = fc1(flat)
    # A fixed feature: no gradient flows into VGG19 (nor is a backward pass through it built).
    out = keras.layers.Lambda(keras.ops.stop_gradient, name="frozen")(out)
    model = keras.Model(images, out, name="vgg19_fc1")
    model.trainable = False
    return model
