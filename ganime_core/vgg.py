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

UNTRAINED_SEED = 0
FC1_FEATURES = 4096
FC1_INPUT_SIZE = 224  # the top's fixed input


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
            shape = variable.shape
            limit = np.sqrt(6.0 / int(np.prod(shape[:-1])))
            variable.assign(rng.uniform(-limit, limit, shape).astype(np.float32))


def vgg19_features(
    layers: tuple[str, ...], weights: Path | None, seed: int = UNTRAINED_SEED
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


def vgg19_fc1(weights: Path | None, seed: int = UNTRAINED_SEED) -> keras.Model:
    """Images (n, h, w, 3) in [-1, 1] -> VGG19's fc1 (n, 4096) before its ReLU, frozen.

    The images are resized (bilinear) to the top's 224x224 and given Keras' VGG19
    preprocessing on 0..255; fc1's own kernel and bias are applied without the activation.
    """
    full = imagenet_vgg19(weights) if weights is not None else None
    if full is None:
        full = keras.applications.VGG19(include_top=True, weights=None)
        seed_kernels(full, seed)
    full.trainable = False
    trunk = keras.Model(full.input, full.get_layer("flatten").output, name="vgg19_trunk")
    kernel, bias = full.get_layer("fc1").get_weights()
    images = keras.Input((None, None, 3), name="reference")
    x = keras.layers.Resizing(FC1_INPUT_SIZE, FC1_INPUT_SIZE, name="to_224")(images)
    x = keras.layers.Lambda(
        lambda v: keras.applications.vgg19.preprocess_input((v + 1.0) * 127.5), name="caffe"
    )(x)
    flat = trunk(x, training=False)
    fc1 = keras.layers.Dense(FC1_FEATURES, activation=None, trainable=False, name="fc1_linear")
    out = fc1(flat)
    fc1.set_weights([kernel, bias])
    # A fixed feature: no gradient flows into VGG19 (nor is a backward pass through it built).
    out = keras.layers.Lambda(keras.ops.stop_gradient, name="frozen")(out)
    model = keras.Model(images, out, name="vgg19_fc1")
    model.trainable = False
    return model
