"""Every method, trainable or not, by the name used in experiment files (`model.family`).

FAMILIES maps each name to what builds it, as a lazy "module:attr" path, so listing the names
(config.py's FAMILY_NAMES) imports no TensorFlow:
- a method that trains (its settings' `trainable`): its ModelFamily class. `build_family` builds
  its networks and optimizers; its colorizer comes with its weights, from
  `ModelFamily.colorizer()` of a checkpoint (`checkpoint.open_checkpoint`);
- a method that trains nothing (NST, Fast NST): the function that builds its Colorizer from the
  config, `(config, weights, stand_in) -> Colorizer`; `build_colorizer` calls it.

What a method needs (a reference, training, paired data) is declared once, on its settings class
in config.py (`needs_reference`, `trainable`, `paired`), and never asked by its name. Adding a
method is one module, one line here, and its settings class in config.py (a member of
`ModelConfig`); the train loop, Ray, Tune and MLflow code do not change.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganime_core.errors import GanimeError

if TYPE_CHECKING:
    from ganime_core.colorizers import Colorizer
    from ganime_core.config import ExperimentConfig
    from ganime_core.families.base import ModelFamily

FAMILIES: dict[str, str] = {
    "pix2pix": "ganime_core.families.pix2pix:Pix2Pix",
    "cyclegan": "ganime_core.families.cyclegan:CycleGAN",
    "style2paints": "ganime_core.families.style2paints:Style2paints",
    "nst": "ganime_core.colorizers:nst_colorizer",
    "fast_nst": "ganime_core.colorizers:fast_nst_colorizer",
}


def _builder(family: str) -> Any:
    """What FAMILIES names for `family`, imported now (with TensorFlow)."""
    module_name, attribute = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_family(config: ExperimentConfig, pretrained: bool = True) -> ModelFamily:
    """Networks and optimizers of `config.model.family`, computing in `train.precision`;
    call inside the strategy's scope. A method that trains nothing is a one-line ConfigError.
    `pretrained=False`: frozen pretrained parts are seeded stand-ins (shapes only)."""
    config.require_trainable()
    from ganime_core.precision import dtype_policy  # TensorFlow: only to build a family

    family_class = _builder(config.model.family)
    with dtype_policy(config.train.precision):  # every layer computes in train.precision
        return family_class(config, pretrained)


def build_colorizer(
    config: ExperimentConfig, weights: Path | None = None, stand_in: bool = False
) -> Colorizer:
    """The Colorizer of a method that trains nothing (NST, Fast NST) as `config.model` sets it
    up. `weights`: NST's VGG19 file or Fast NST's model folder when the caller has them (a
    logged MLflow model's artifacts); otherwise they come from the assets (fetched if missing
    and allowed), or NST's seeded stand-in where the config allows it. `stand_in`: NST on the
    stand-in whatever is here (a model logged so). A trained method's colorizer needs its
    weights (a checkpoint, a logged model): asking here is a one-line GanimeError."""
    if config.model.trainable:
        raise GanimeError(
            f"{config.model.family} is trained: colorize with its weights "
            "(`ganime colorize --checkpoint RUN_DIR` or `--model URI`)"
        )
    return _builder(config.model.family)(config, weights, stand_in)
