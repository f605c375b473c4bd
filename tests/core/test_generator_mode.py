"""metrics.generator_mode: a trained generator measured in inference mode (the default) or in
training mode, as the GANime authors' test script ran it; either way measuring leaves the model
as it was."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ganime_core.evaluation import EvaluationCache, Evaluator
from ganime_core.families import build_family

pytestmark = pytest.mark.usefixtures("cache_dir")

SMALL = ("model.base_filters=4", "data.synthetic.count=20", "metrics.max_images=8")


def sketches(n: int = 4, size: int = 32) -> tf.Tensor:
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(-1, 1, (n, size, size, 3)), tf.float32)


def state(network) -> list[np.ndarray]:
    """Every variable: weights, BatchNorm's moving statistics, the dropout RNG's state."""
    return [v.numpy().copy() for v in network.variables]


def assert_unchanged(network, before: list[np.ndarray]) -> None:
    for variable, kept in zip(network.variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), kept, err_msg=variable.path)


def test_training_mode_draws_dropout_and_batch_statistics_and_leaves_the_model_as_it_was(
    smoke_config,
) -> None:
    family = build_family(smoke_config(*SMALL, "model.dropout=0.5"))  # BatchNorm: the default
    generator, colorizer = family.generator, family.colorizer()
    sketch = sketches()
    before = state(generator)
    inference = colorizer(sketch).numpy()
    moving = [v for v in generator.non_trainable_variables if "moving_mean" in v.path]

    with colorizer.measuring("training"):
        first, second = colorizer(sketch).numpy(), colorizer(sketch).numpy()
        # a training-mode call moves the statistics: what the end of measuring puts back
        assert any(not np.array_equal(v.numpy(), 0.0) for v in moving)

    assert np.abs(first - inference).mean() > 1e-2
    assert np.abs(first - second).mean() > 1e-3  # the dropout RNG moved on between batches
    assert_unchanged(generator, before)
    np.testing.assert_array_equal(colorizer(sketch).numpy(), inference)  # the same computation

    with colorizer.measuring("inference"):  # the default: nothing switched
        np.testing.assert_array_equal(colorizer(sketch).numpy(), inference)
    assert_unchanged(generator, before)


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_the_evaluator_measures_in_the_configured_mode_and_inference_is_the_default(
    smoke_config,
) -> None:
    config = smoke_config(*SMALL, "model.dropout=0.5")
    assert config.metrics.generator_mode == "inference"
    family = build_family(config)
    before = state(family.generator)
    cache = EvaluationCache()  # one InceptionV3 for the three evaluators
    features = {}
    for mode in ("inference", "training"):
        moded = config.replace({"metrics.generator_mode": mode})
        evaluator = Evaluator(moded, split="test", cache=cache)
        features[mode] = evaluator.measure(family.colorizer()).features
    assert np.abs(features["training"] - features["inference"]).mean() > 1e-4
    assert_unchanged(family.generator, before)

    # The default again, after a training-mode evaluation: the numbers of before.
    again = Evaluator(config, split="test", cache=cache).measure(family.colorizer()).features
    np.testing.assert_array_equal(again, features["inference"])


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_style2paints_paints_on_batch_statistics_in_training_mode_with_its_hint_frozen(
    style2paints_config,
) -> None:
    family = build_family(style2paints_config("model.norm=batch"))
    colorizer = family.colorizer()
    sketch, reference = sketches(2), sketches(2)[::-1]
    before, hint_before = state(family.generator), state(family.hint_encoder)
    inference = colorizer(sketch, reference).numpy()
    with colorizer.measuring("training"):
        training = colorizer(sketch, reference).numpy()
    assert np.abs(training - inference).mean() > 1e-2
    assert_unchanged(family.generator, before)
    assert_unchanged(family.hint_encoder, hint_before)
