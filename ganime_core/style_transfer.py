"""The paper's reference-based baselines: Neural Style Transfer and Fast NST.

Both colorize a sketch *after a reference colour image* and train nothing. Images here are
float32 (n, h, w, 3) in [0, 1], the range both methods are defined in; `colorizers.py` converts
from and to the pipeline's [-1, 1].

NST (Gatys et al., as the TensorFlow tutorial and the GANime paper run it): the image itself is
optimized, starting from the sketch, so that its VGG19 features keep the sketch's content
(block5_conv2) and its Gram matrices take the reference's style (block1_conv1 ... block5_conv1).
Many images are optimized together, each under its own loss: the gradient of a sum of
independent losses is each image's own, and Adam's update is elementwise, so a batch gives what
one image at a time would.

Fast NST: one forward pass of magenta's arbitrary-image-stylization-v1-256 (TF Hub), loaded with
TF Hub's own loader (`hub.KerasLayer` is a Keras 2 layer and breaks under Keras 3).
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from ganime_core.config import FastNSTSettings, NSTSettings
from ganime_core.errors import GanimeError
from ganime_core.vgg import vgg19_features


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """(b, h, w, c) feature maps -> (b, c, c) channel correlations, normalized by h*w."""
    gram = tf.linalg.einsum("bijc,bijd->bcd", features, features)
    shape = tf.shape(features)
    return gram / tf.cast(shape[1] * shape[2], tf.float32)


def style_loss(grams: list[tf.Tensor], targets: list[tf.Tensor], weight: float) -> tf.Tensor:
    """(weight / layers) * sum over layers of the MSE between Gram matrices, per image: (b,)."""
    per_layer = [
        tf.reduce_mean((g - t) ** 2, axis=[1, 2]) for g, t in zip(grams, targets, strict=True)
    ]
    return weight / len(grams) * tf.add_n(per_layer)


def content_loss(features: list[tf.Tensor], targets: list[tf.Tensor], weight: float) -> tf.Tensor:
    """(weight / layers) * sum over layers of the MSE between feature maps, per image: (b,)."""
    per_layer = [
        tf.reduce_mean((f - t) ** 2, axis=[1, 2, 3]) for f, t in zip(features, targets, strict=True)
    ]
    return weight / len(features) * tf.add_n(per_layer)


class NeuralStyleTransfer:
    """Optimizes images from sketches toward references' styles (see the module docstring)."""

    def __init__(self, settings: NSTSettings, weights: Path | None) -> None:
        self.settings = settings
        self.pretrained = weights is not None
        self.files = weights  # what a logged model of this method carries (None: the stand-in)
        self.layers = (*settings.style_layers, *settings.content_layers)
        self.extractor = vgg19_features(self.layers, weights)
        self.losses: list[float] = []  # the last call's mean loss per step (tests, benchmarks)

    def _features(self, images: tf.Tensor) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        """[0, 1] images -> (Gram matrices of the style layers, content layers' maps)."""
        x = keras.applications.vgg19.preprocess_input(images * 255.0)
        outputs = self.extractor(x, training=False)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        count = len(self.settings.style_layers)
        return [gram_matrix(f) for f in outputs[:count]], list(outputs[count:])

    def loss(
        self, images: tf.Tensor, style: list[tf.Tensor], content: list[tf.Tensor]
    ) -> tf.Tensor:
        """Each image's own loss against its targets: (b,)."""
        grams, features = self._features(images)
        settings = self.settings
        return style_loss(grams, style, settings.style_weight) + content_loss(
            features, content, settings.content_weight
        )

    def stylize(self, content: tf.Tensor, style: tf.Tensor, steps: int | None = None) -> tf.Tensor:
        """(b, h, w, 3) sketches and references in [0, 1] -> (b, h, w, 3) images in [0, 1]."""
        content = tf.convert_to_tensor(content, tf.float32)
        style = tf.convert_to_tensor(style, tf.float32)
        style_targets, _ = self._features(style)
        _, content_targets = self._features(content)
        settings = self.settings
        image = tf.Variable(content)  # the paper starts from the content image
        optimizer = keras.optimizers.Adam(
            learning_rate=settings.learning_rate, beta_1=settings.beta_1, epsilon=settings.epsilon
        )

        @tf.function
        def step() -> tf.Tensor:
            with tf.GradientTape() as tape:
                per_image = self.loss(image, style_targets, content_targets)
                total = tf.reduce_sum(per_image)  # each image's gradient is its own loss's
            optimizer.apply_gradients([(tape.gradient(total, image), image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
            return tf.reduce_mean(per_image)

        self.losses = [float(step()) for _ in range(settings.steps if steps is None else steps)]
        return tf.convert_to_tensor(image)


class FastStyleTransfer:
    """magenta's arbitrary-image-stylization-v1-256: content at any size, style at 256x256."""

    def __init__(self, settings: FastNSTSettings, handle: str | Path) -> None:
        import tensorflow_hub as hub  # only Fast NST needs TF Hub

        self.settings = settings
        self.handle = str(handle)
        try:
            self.model = hub.load(self.handle)
        except Exception as exc:  # OSError, ValueError, tf errors: all mean "not that model"
            first = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise GanimeError(f"Fast NST model {self.handle}: cannot load it ({first})") from None
        # The local SavedModel folder (TF Hub's cache for a URL): what a logged model carries.
        self.files = Path(hub.resolve(self.handle))

    def stylize(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        """(b, h, w, 3) sketches and references in [0, 1] -> (b, h, w, 3) images in [0, 1]."""
        content = tf.convert_to_tensor(content, tf.float32)
        size = self.settings.style_size
        style = tf.image.resize(tf.convert_to_tensor(style, tf.float32), [size, size])
        stylized = self.model(content, style)[0]
        if stylized.shape[1:3] != content.shape[1:3]:  # the model may round odd sizes
            stylized = tf.image.resize(stylized, content.shape[1:3], method="bilinear")
        return tf.clip_by_value(stylized, 0.0, 1.0)
