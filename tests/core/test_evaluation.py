"""Evaluating generators: known generators' numbers, and the reference features' cache."""

from __future__ import annotations

import numpy as np
import pytest

from ganime_core.colorizers import Colorizer, GeneratorColorizer
from ganime_core.data.pipeline import TrainingData
from ganime_core.evaluation import EvaluationCache, Evaluator, Measurements
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
    # Generated data knows each part's colour: the true colour image takes its palette exactly
    # (flat parts: each part's mean is its colour, up to float64 rounding of the Lab means).
    assert perfect.part_delta_e == pytest.approx(0.0, abs=1e-9)

    blank = evaluator.evaluate(GeneratorColorizer("grey", lambda sketch, training: sketch * 0))
    assert blank.fid > 1.0 and blank.kid.mean > 10 * (abs(perfect.kid.mean) + blank.kid.std)
    assert blank.ssim < 0.5
    assert blank.backbone == "inception_v3/untrained-seed0@75px"
    assert set(blank.metrics()) == {
        "test_fid_untrained_inception",
        "test_kid_mean_untrained_inception",
        "test_kid_std_untrained_inception",
        "test_ssim",  # SSIM needs no backbone: the stand-in InceptionV3 does not mark it
        "test_part_delta_e",  # nor the part colour error: a pixel metric
    }
    assert blank.part_delta_e > 10.0  # mid-grey everywhere: far from any drawn palette


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


class _ByReference(Colorizer):
    """A method that takes a reference: `paint(sketch, reference)` decides its output."""

    def __init__(self, paint) -> None:
        super().__init__("by_reference", needs_reference=True)
        self.paint = paint

    def colorize(self, sketch, reference):
        return self.paint(sketch, reference)


def test_the_colour_metrics_tell_a_method_that_copies_its_reference_from_one_that_ignores_it(
    smoke_config,
) -> None:
    """On free-palette data with same-palette references: returning the reference itself
    matches its colour distribution exactly (a/b distance 0); returning the true colour image
    (what the reference's palette asks, but read from the data, never from the reference)
    takes the palette exactly (part ΔE 0) and does not move when the references are swapped
    (swap 0). Measured in two shards, the rows add up to the measuring in one."""
    config = smoke_config(
        *FAST,
        "data.synthetic.palette=free",
        "metrics.reference=same_palette",
        "metrics.swap=true",
        "metrics.max_images=12",
    )
    data = TrainingData(config)
    evaluator = Evaluator(config, data, split="test")

    copier = evaluator.evaluate(_ByReference(lambda sketch, reference: reference))
    assert copier.ab_distance == pytest.approx(0.0, abs=1e-12)
    assert copier.part_delta_e > 5.0  # another drawing: its colours land on the wrong parts
    assert copier.reference == "same_palette"
    assert "test_swap" in copier.metrics() and "test_ab_distance" in copier.metrics()

    colours = {}
    for batch in data.eval_dataset("test", evaluator.batch_size, limit=evaluator.n):
        for sketch, colour in zip(batch["sketch"].numpy(), batch["color"].numpy(), strict=True):
            colours[sketch.tobytes()] = colour

    def true_colour(sketch, reference):
        return np.stack([colours[s.tobytes()] for s in sketch.numpy()])

    ignoring = _ByReference(true_colour)
    whole = evaluator.measure(ignoring)
    truth = evaluator.score(whole, ignoring)
    assert truth.part_delta_e == pytest.approx(0.0, abs=1e-9)
    assert truth.swap == pytest.approx(0.0, abs=1e-12) and whole.swap_differ.min() > 0
    halves = Measurements.concatenate(
        [evaluator.measure(ignoring, 0, 5), evaluator.measure(ignoring, 5, None)]
    )
    for column in ("part_errors", "ab_distances", "swap_moved", "swap_differ"):
        np.testing.assert_array_equal(getattr(halves, column), getattr(whole, column))
