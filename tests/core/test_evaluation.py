"""Evaluating generators: known generators' numbers, and the reference features' cache."""

from __future__ import annotations

import numpy as np
import pytest

from ganime_core.colorizers import GeneratorColorizer
from ganime_core.data.pipeline import TrainingData
from ganime_core.evaluation import EvaluationCache, Evaluator
from ganime_core.metrics import Backbone

pytestmark = pytest.mark.slow  # trains models: not in make test-fast

# InceptionV3's smallest input keeps these tests fast; the size does not change the code path.
FAST = ("metrics.backbone_size=75", "metrics.max_images=24", "metrics.kid_subset_size=12")


def colour_oracle(data: TrainingData, evaluator: Evaluator):
    """A 'generator' that returns each sketch's true colour image, batch by batch in order."""
    batches = iter(data.eval_dataset("test", evaluator.settings.batch_size, limit=evaluator.n))
    return GeneratorColorizer("oracle", lambda sketch, training: next(batches)["color"])


def test_a_perfect_generator_scores_zero_and_a_blank_one_does_not(smoke_config) -> None:
    config = smoke_config(*FAST)
    data = TrainingData(config)
    evaluator = Evaluator(config, data, split="test")

    perfect = evaluator.evaluate(colour_oracle(data, evaluator))
    assert perfect.n == 24
    assert perfect.fid == pytest.approx(0.0, abs=1e-6)
    # KID's subsets of the two sets differ, so "identical" is zero only within its spread.
    assert abs(perfect.kid.mean) < 3 * perfect.kid.std
    assert perfect.ssim == pytest.approx(1.0, abs=1e-6)

    blank = evaluator.evaluate(GeneratorColorizer("grey", lambda sketch, training: sketch * 0))
    assert blank.fid > 1.0 and blank.kid.mean > 10 * (abs(perfect.kid.mean) + blank.kid.std)
    assert blank.ssim < 0.5
    assert blank.backbone == "inception_v3/untrained-seed0@75px"
    assert set(blank.metrics()) == {
        "test_fid_untrained_inception",
        "test_kid_mean_untrained_inception",
        "test_kid_std_untrained_inception",
        "test_ssim",  # SSIM needs no backbone: the stand-in InceptionV3 does not mark it
    }


def test_reference_features_are_computed_once_per_data_size_and_backbone(
    smoke_config, monkeypatch
) -> None:
    config = smoke_config(*FAST)
    data = TrainingData(config)
    calls = []
    original = Backbone.features
    monkeypatch.setattr(
        Backbone,
        "features",
        lambda self, images: calls.append(len(images)) or original(self, images),
    )
    cache = EvaluationCache()

    first = Evaluator(config, data, split="test", cache=cache)
    assert sum(calls) == 0  # read or computed when first needed: a shard never needs it
    assert first.reference.features.shape == (24, 2048)
    assert first.reference_cache_path().is_file() and sum(calls) == 24
    # another process: from the file
    again = Evaluator(config, data, split="test", cache=EvaluationCache())
    np.testing.assert_array_equal(again.reference.features, first.reference.features)
    assert sum(calls) == 24
    # from memory
    assert Evaluator(config, data, split="test", cache=cache).reference is first.reference
    assert cache.backbone_builds == 1

    fewer = Evaluator(smoke_config(*FAST, "metrics.max_images=16"), data, split="test", cache=cache)
    assert fewer.reference_cache_path() != first.reference_cache_path()
    assert len(fewer.reference.features) == 16
    assert sum(calls) == 24 + 16
