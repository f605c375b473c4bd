"""Mixed precision (`train.precision`): what computes in bfloat16/float16, and what stays float32.

Under `mixed_bfloat16` or `mixed_float16` the networks' layers compute in the half type while
their variables (and so every checkpoint) stay float32. Each network ends in a float32 layer
(FLOAT32), so the losses, the TV term, the metrics and the sample grids are computed in float32
by everything downstream without casts of their own. float16's narrow range needs loss scaling:
its optimizers are wrapped in Keras' LossScaleOptimizer (`loss_scaled`); bfloat16 has float32's
range and needs none.

A checkpoint resumes under any precision (the fingerprint leaves precision out): the weights and
the Adam slots are float32 under all three, and the loss scale is kept apart from them
(checkpoint.LOSS_SCALE) so that a run without one can read a checkpoint with one and vice versa.
What a run logs and serves always computes in float32 (`float32_model`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

from ganime_core.config import Precision

# The dtype of every network's last layer, whatever the policy: outputs are float32.
FLOAT32 = "float32"


@contextlib.contextmanager
def dtype_policy(precision: Precision) -> Iterator[None]:
    """Layers created inside compute in `precision` (a Keras dtype policy name).

    Keras captures the global policy in each layer when it is created; the global policy is
    per thread and is put back afterwards, so nothing else in the process is affected.
    """
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def compute_dtype(precision: Precision) -> str:
    """The dtype the layers compute in: float32, bfloat16 or float16."""
    return keras.DTypePolicy(precision).compute_dtype


def needs_loss_scaling(precision: Precision) -> bool:
    """float16 underflows small gradients; bfloat16 has float32's exponent range."""
    return precision == "mixed_float16"


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.LossScaleOptimizer:
    """`optimizer` behind dynamic loss scaling: the loss is multiplied by a scale before the
    gradients are taken, the gradients divided by it before the update, and a step whose
    gradients overflowed is skipped and the scale halved (doubled after 2,000 good steps)."""
    return keras.optimizers.LossScaleOptimizer(optimizer)


def float32_model(model: keras.Model) -> keras.Model:
    """`model` computing in float32, with the same weights: what a run logs and serves, so a
    model trained in mixed precision on a GPU runs at full precision (and full speed) on a CPU.
    A model that already computes in float32 is returned as it is."""
    if all(layer.dtype_policy.name == FLOAT32 for layer in _all_layers(model)):
        return model
    config = _in_float32(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model: keras.Model) -> Iterator[keras.Layer]:
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _in_float32(config: Any) -> Any:
    """A serialized Keras object with every mixed dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config["config"], "name": FLOAT32}}
        return {key: _in_float32(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_in_float32(value) for value in config]
    return config
