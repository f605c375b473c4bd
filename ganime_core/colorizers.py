"""One surface for every colorizer: sketches and, where the method uses them, references in,
colour images out.

Every image here is float32 (n, s, s, 3) in [-1, 1], the pipeline's range. Pix2Pix and CycleGAN
ignore the reference; NST, Fast NST and Style2paints need one (their settings' `needs_reference`;
a method that needs it refuses a call without it, in one line). A method that trains nothing is
built here from its config (nst_colorizer, fast_nst_colorizer: ganime_core.families' registry
names them); a trained one's colorizer comes from its family, with its weights. The Evaluator,
`ganime colorize`, the MLflow model and serving take any method through this surface; the
families' networks and the style-transfer code stay behind it.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import tensorflow as tf

from ganime_core import style_transfer
from ganime_core.config import ExperimentConfig, FastNSTSettings, GeneratorMode, NSTSettings
from ganime_core.errors import GanimeError
from ganime_core.pretrained import fast_nst_handle, vgg19_weights


class ReferenceMissing(GanimeError):
    """A method that colorizes after a reference image was called without one."""


class Colorizer(abc.ABC):
    """Colorizes a batch of sketches; `reference` is ignored by methods that do not use one."""

    def __init__(self, method: str, needs_reference: bool, pretrained: bool = True) -> None:
        self.method = method  # the family name: pix2pix, cyclegan, nst, fast_nst, style2paints
        self.needs_reference = needs_reference
        # False when a seeded untrained stand-in works inside (NST's VGG19 in tests): the
        # metrics then carry the untrained suffix, as they do for a stand-in InceptionV3.
        self.pretrained = pretrained

    def __call__(self, sketch: tf.Tensor, reference: tf.Tensor | None = None) -> tf.Tensor:
        if self.needs_reference and reference is None:
            raise ReferenceMissing(
                f"{self.method} colorizes a sketch after a reference colour image and got none: "
                "give one (`ganime colorize --reference`, or a 'reference' column)"
            )
        return self.colorize(sketch, reference)

    @abc.abstractmethod
    def colorize(self, sketch: tf.Tensor, reference: tf.Tensor | None) -> tf.Tensor:
        """(n, s, s, 3) sketches (and references) in [-1, 1] -> colour images in [-1, 1]."""

    @property
    def files(self) -> Path | None:
        """What a logged model of this method carries beside its config, where the method is
        built from the config alone (NST's VGG19 file, Fast NST's SavedModel folder); None:
        nothing (a trained generator's files are its family's `model_files`)."""
        return None

    @contextlib.contextmanager
    def measuring(self, generator_mode: GeneratorMode) -> Iterator[None]:
        """While the Evaluator measures: a trained generator runs in `generator_mode`
        (metrics.generator_mode); a method without one has nothing to switch."""
        yield


class TrainedGeneratorColorizer(Colorizer):
    """A trained Keras generator, called with `training` False, or True while `measuring` in
    training mode: dropout on and BatchNorm on each batch's statistics, what the GANime
    authors' test script measured. A training-mode call also moves BatchNorm's moving
    statistics and the dropout RNG; they are put back when the measuring ends, so an
    evaluation leaves the model as it found it and training goes on as if it had not run."""

    def __init__(
        self, method: str, needs_reference: bool, generator: keras.Model, pretrained: bool = True
    ) -> None:
        super().__init__(method, needs_reference, pretrained)
        self.generator = generator
        self.training = False

    @contextlib.contextmanager
    def measuring(self, generator_mode: GeneratorMode) -> Iterator[None]:
        if generator_mode == "inference":
            yield
            return
        state = [(v, v.numpy()) for v in self.generator.non_trainable_variables]
        self.training = True
        try:
            yield
        finally:
            self.training = False
            for variable, value in state:
                variable.assign(value)


class GeneratorColorizer(TrainedGeneratorColorizer):
    """A trained generator (Pix2Pix, CycleGAN): the sketch alone decides the colours.
    `generator` is a Keras model, or any callable taking `training=` like one."""

    def __init__(self, method: str, generator: keras.Model) -> None:
        super().__init__(method, needs_reference=False, generator=generator)

    def colorize(self, sketch: tf.Tensor, reference: tf.Tensor | None) -> tf.Tensor:
        return self.generator(sketch, training=self.training)


class HintedGeneratorColorizer(TrainedGeneratorColorizer):
    """Style2paints: a trained generator fed the sketch and the reference's style hint (VGG19
    fc1, frozen); its first output is the painting (the others are its guide decoders')."""

    def __init__(
        self,
        method: str,
        generator: keras.Model,
        hint_encoder: Callable[..., tf.Tensor],
        pretrained: bool,
    ) -> None:
        super().__init__(method, needs_reference=True, generator=generator, pretrained=pretrained)
        self.hint_encoder = hint_encoder

    def colorize(self, sketch: tf.Tensor, reference: tf.Tensor | None) -> tf.Tensor:
        hint = self.hint_encoder(reference, training=False)  # frozen VGG19: always inference
        return self.generator([sketch, hint], training=self.training)[0]


class StyleTransferColorizer(Colorizer):
    """NST or Fast NST: the reference's style painted over the sketch's content."""

    def __init__(self, method: str, transfer: object, pretrained: bool) -> None:
        super().__init__(method, needs_reference=True, pretrained=pretrained)
        self.transfer = transfer  # style_transfer.NeuralStyleTransfer or FastStyleTransfer

    @property
    def files(self) -> Path | None:
        """NST's VGG19 weights file (None: the stand-in) or Fast NST's SavedModel folder."""
        return self.transfer.files

    def colorize(self, sketch: tf.Tensor, reference: tf.Tensor | None) -> tf.Tensor:
        stylized = self.transfer.stylize((sketch + 1.0) / 2.0, (reference + 1.0) / 2.0)
        return stylized * 2.0 - 1.0


def nst_colorizer(
    config: ExperimentConfig, weights: Path | None = None, stand_in: bool = False
) -> Colorizer:
    """NST as `config.model` sets it up (FAMILIES' entry for nst; see
    `families.build_colorizer`). `weights`: its VGG19 file, else the assets' (fetched if
    missing and allowed), or the seeded stand-in where the config allows it; `stand_in`: the
    stand-in whatever is here (a model logged so)."""
    settings = config.model
    assert isinstance(settings, NSTSettings)  # the registry builds nst's config only
    if weights is None and not stand_in:
        weights = vgg19_weights(settings, config.assets)
    transfer = style_transfer.NeuralStyleTransfer(settings, weights)
    return StyleTransferColorizer(settings.family, transfer, pretrained=transfer.pretrained)


def fast_nst_colorizer(
    config: ExperimentConfig, weights: Path | None = None, stand_in: bool = False
) -> Colorizer:
    """Fast NST as `config.model` sets it up (FAMILIES' entry for fast_nst). `weights`: its
    SavedModel folder, else `model.handle` or the assets' model; it has no stand-in."""
    settings = config.model
    assert isinstance(settings, FastNSTSettings)  # the registry builds fast_nst's config only
    handle = weights if weights is not None else fast_nst_handle(settings, config.assets)
    transfer = style_transfer.FastStyleTransfer(settings, handle)
    return StyleTransferColorizer(settings.family, transfer, pretrained=True)
