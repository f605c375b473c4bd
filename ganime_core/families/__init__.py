"""Model families by the name used in experiment files (`model.family`).

Adding a family is one module with a ModelFamily subclass, one line here, and its settings class
in config.py; the train loop, Ray, Tune and MLflow code do not change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganime_core.config import ExperimentConfig
    from ganime_core.families.base import ModelFamily

# Lazy "module:Class" paths, so listing families does not import TensorFlow.
FAMILIES: dict[str, str] = {
    "pix2pix": "ganime_core.families.pix2pix:Pix2Pix",
    "cyclegan": "ganime_core.families.cyclegan:CycleGAN",
    "style2paints": "ganime_core.families.style2paints:Style2paints",
}


def build_family(config: ExperimentConfig, pretrained: bool = True) -> ModelFamily:
    """Networks and optimizers of `config.model.family`, computing in `train.precision`;
    call inside the strategy's scope.
    `pretrained=False`: frozen pretrained parts are seeded stand-ins (shapes only)."""
    from ganime_core.precision import dtype_policy

    config.require_trainable()
    module_name, class_name = FAMILIES[config.model.family].split(":")
    family_class = getattr(importlib.import_module(module_name), class_name)
    with dtype_policy(config.train.precision):  # every layer computes in train.precision
        return family_class(config, pretrained)
