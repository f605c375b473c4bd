"""InceptionV3 pool features for FID and KID, with weights found locally and named in every output.

The paper's extractor: InceptionV3(include_top=False, pooling='avg'), 2048-d, Keras' InceptionV3
preprocessing. Its images were 256x256 and fed at that size, so `metrics.backbone_size` is 256 by
default: uint8 images at any size are resized to it (bilinear, antialiased when shrinking), then
scaled to [-1, 1] by `inception_v3.preprocess_input`.

Weights come from `ganime_core.pretrained` (config, $GANIME_INCEPTION_WEIGHTS, Keras' cache),
which downloads Keras' file when it is missing and `assets.auto_fetch` allows it. Only where the
config allows it (`metrics.allow_untrained_backbone`, and no weights here), a seeded untrained
InceptionV3 stands in, without touching the network; its numbers carry `_untrained_inception`
(ganime_core/metrics/names.py) so they can never be compared with ImageNet-backbone numbers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ganime_core.assets import INCEPTION_V3
from ganime_core.config import AssetsConfig, MetricsConfig
from ganime_core.errors import MetricsError
from ganime_core.pretrained import inception_standin, inception_weights

FEATURE_DIM = 2048
INCEPTION_STANDIN_SEED = 0


class Backbone:
    """A feature extractor and the name its numbers are reported under."""

    def __init__(self, model: keras.Model, weights_id: str, pretrained: bool) -> None:
        self.model = model
        self.input_size = int(model.input_shape[1])
        self.pretrained = pretrained
        # Identifies the exact weights, for cache keys (the file's content hash, or the seed).
        self.weights_id = weights_id
        kind = "imagenet" if pretrained else f"untrained-seed{INCEPTION_STANDIN_SEED}"
        self.name = f"inception_v3/{kind}@{self.input_size}px"
        signature = [tf.TensorSpec([None, self.input_size, self.input_size, 3], tf.float32)]
        self._extract = tf.function(self._pool_features, input_signature=signature)

    def features(self, images: np.ndarray | tf.Tensor) -> np.ndarray:
        """(n, h, w, 3) uint8 images -> (n, 2048) float32 pool features."""
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.uint8 or images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"need uint8 (n, h, w, 3) images, got {images.dtype.name} {images.shape}"
            )
        x = tf.cast(images, tf.float32)
        if images.shape[1:3] != (self.input_size, self.input_size):
            x = tf.image.resize(x, [self.input_size] * 2, method="bilinear", antialias=True)
        return self._extract(keras.applications.inception_v3.preprocess_input(x)).numpy()

    def _pool_features(self, x: tf.Tensor) -> tf.Tensor:
        return self.model(x, training=False)


def load_backbone(settings: MetricsConfig, assets: AssetsConfig | None = None) -> Backbone:
    """InceptionV3 with the configured weights, fetched if missing and `assets` allows it (the
    default does), or a one-line MetricsError saying how to get them."""
    if inception_standin(settings, assets):  # the same decision a driver took
        return Backbone(
            untrained_inception_v3(settings.backbone_size, INCEPTION_STANDIN_SEED),
            weights_id=f"untrained-seed{INCEPTION_STANDIN_SEED}",
            pretrained=False,
        )
    path = inception_weights(settings, assets)
    model = inception_v3(settings.backbone_size)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras raises ValueError, OSError or h5py errors alike
        raise MetricsError(
            f"{path}: not InceptionV3 no-top weights ({type(exc).__name__}); use Keras' "
            f"{INCEPTION_V3.file_name} (`ganime assets fetch {INCEPTION_V3.name}`)"
        ) from None
    return Backbone(model, weights_id=f"sha256:{file_digest(path)}", pretrained=True)


def inception_v3(size: int) -> keras.Model:
    """The paper's architecture, without weights: no top, average pooling, 2048-d output."""
    return keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(size, size, 3)
    )


def untrained_inception_v3(size: int, seed: int) -> keras.Model:
    """InceptionV3 with every kernel drawn (He-uniform) from a NumPy generator seeded `seed`.

    Keras' own initializers draw from process-wide seed state, which would tie these weights to
    whatever ran before; the other variables (batch-norm) start at constants.
    """
    model = inception_v3(size)
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.endswith("kernel"):
            shape = variable.shape
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            # He scaling keeps the activations' scale through 94 ReLU layers; Glorot shrinks
            # them until every image gives nearly the same features.
            limit = np.sqrt(6.0 / (shape[-2] * receptive))
            variable.assign(rng.uniform(-limit, limit, shape).astype(np.float32))
    return model


def file_digest(path: Path) -> str:
    """First 16 hex digits of the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
