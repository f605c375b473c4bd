"""Evaluate a colorizer on a data split: FID and KID against the split's colour images, SSIM
against each sketch's own colour image. Any method goes through ganime_core.colorizers; one
that colorizes after a reference gets each sketch's reference by `metrics.reference`.

Generated and real colour images are compared at `data.image_size`, as uint8, the way a user
sees them; the backbone resizes both alike. The real images' features depend only on the data,
the image size and the backbone, so they are computed once and cached on disk under a key of
those (a sweep of many trials extracts them once), and kept in memory by an EvaluationCache
with their Gaussian's square root (a process that evaluates many times computes it once).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganime_core.colorizers import Colorizer
from ganime_core.config import AssetsConfig, ExperimentConfig, MetricsConfig
from ganime_core.data.pipeline import TrainingData, to_uint8
from ganime_core.metrics import (
    FEATURE_DIM,
    Backbone,
    FeatureStatistics,
    FrechetReference,
    KernelDistance,
    kid,
    load_backbone,
    names,
    ssim_per_pair,
)
from ganime_core.pretrained import inception_standin, named_weights


@dataclass(frozen=True)
class Evaluation:
    fid: float
    kid: KernelDistance
    ssim: float | None  # None when the split holds no true pairs (unpaired layout)
    n: int
    backbone: str
    split: str  # the data split measured (ganime_core/splits.py): selection or test
    # The seeded stand-in networks that produced the numbers (names.INCEPTION, names.VGG19)
    standins: tuple[str, ...] = ()
    reference: str | None = None  # the metrics.reference policy, for methods that use one

    def metrics(self) -> dict[str, float]:
        """Metric name -> value, names as logged: each names the split, the stand-ins that
        shaped it and the ground-truth reference where that was the policy."""
        values = {
            names.FID: self.fid,
            names.KID_MEAN: self.kid.mean,
            names.KID_STD: self.kid.std,
            names.SSIM: self.ssim,
        }
        return {
            names.metric_name(metric, self.split, self.standins, self.reference): value
            for metric, value in values.items()
            if value is not None
        }

    def name(self, objective: str) -> str:
        """The name `objective` (fid, kid, ssim) is logged under by this evaluation."""
        return names.logged_name(objective, self.split, self.standins, self.reference)

    def value(self, objective: str) -> float | None:
        """The value of `objective` (fid, kid, ssim); None for SSIM on unpaired data."""
        return self.metrics().get(self.name(objective))

    def summary(self) -> dict[str, object]:
        """The metrics plus how they were measured: `ganime evaluate`'s JSON line."""
        ssim = {self.name(names.SSIM): self.ssim}  # null on unpaired data, not left out
        summary = {**self.metrics(), **ssim, "n": self.n, "backbone": self.backbone}
        if self.reference is not None:
            summary["reference"] = self.reference
        return summary


@dataclass(frozen=True)
class Measurements:
    """What scoring needs of some of a split's outputs: their backbone features and, on paired
    files, each output's SSIM against its sketch's colour image. Shards measured apart (Ray
    tasks) concatenate, in row order, into exactly what one process would have measured."""

    features: np.ndarray  # (n, 2048)
    ssims: np.ndarray  # (n,), empty on unpaired files
    # The first rows' images in [-1, 1] (sketch, reference if any, generated, color), when asked
    samples: dict[str, np.ndarray] | None = None

    @staticmethod
    def concatenate(parts: list[Measurements]) -> Measurements:
        return Measurements(
            np.concatenate([part.features for part in parts]),
            np.concatenate([part.ssims for part in parts]),
            parts[0].samples,
        )


@dataclass(frozen=True)
class Reference:
    """A split's real colour images as the metrics see them: their features (for KID) and the
    Gaussian fitted to them (for FID), its square root computed once."""

    features: np.ndarray
    gaussian: FrechetReference


class EvaluationCache:
    """What evaluations in one process share: the backbones built, by the settings that shape
    them, and the reference features read, by their cache file. A process that trains one run
    after another (a reused sweep actor) builds and traces InceptionV3 once and reads a data
    set's reference once."""

    def __init__(self) -> None:
        self._backbones: dict[tuple[object, ...], Backbone] = {}
        self._references: dict[Path, Reference] = {}
        self.backbone_builds = 0  # reuse is observable (and tested)

    def backbone(self, settings: MetricsConfig, assets: AssetsConfig) -> Backbone:
        # Keyed by where the weights are named, not by the file found: Keras' cached file is
        # one pinned file, fetched or not, and hashing it here would repeat load_backbone's check.
        key = (
            inception_standin(settings, assets),
            str(named_weights(settings)),
            settings.backbone_size,
        )
        if key not in self._backbones:
            self._backbones[key] = load_backbone(settings, assets)
            self.backbone_builds += 1
        return self._backbones[key]

    def reference(self, path: Path, compute: Callable[[], np.ndarray]) -> Reference:
        """The reference whose features are cached at `path`, computed and written if absent."""
        if path not in self._references:
            features = _read_or_write(path, compute)
            gaussian = FrechetReference(FeatureStatistics.of(features))
            self._references[path] = Reference(features, gaussian)
        return self._references[path]


def _read_or_write(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if path.is_file():
        return np.load(path)
    features = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        np.save(handle, features)
    os.replace(tmp, path)  # atomic: concurrent trials never read half a file
    return features


class Evaluator:
    """Measures generators on one split; load once, call `evaluate` after any number of epochs.
    `split` is named by every caller: selection for what decides, test for what reports."""

    def __init__(
        self,
        config: ExperimentConfig,
        data: TrainingData | None = None,
        *,
        split: str,
        cache: EvaluationCache | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.settings = config.metrics
        self.data = data or TrainingData(config)
        self.split = split
        self.progress = progress
        cache = cache or EvaluationCache()
        self.backbone = cache.backbone(self.settings, config.assets)
        available = len(self.data.examples(split, epoch=None))
        self.n = min(available, self.settings.max_images or available)
        if self.n < 2:
            raise ValueError(f"the {split} split has {self.n} image(s); FID needs at least 2")
        # SSIM compares a sketch's output with that sketch's own colour image: paired files only.
        self.paired = self.data.paired_files
        self._cache = cache
        self._reference: Reference | None = None

    @property
    def reference(self) -> Reference:
        """The split's real colour images' features, read or computed when first scored: a
        shard measured in a Ray task (`measure` only) never needs them."""
        if self._reference is None:
            self._reference = self._cache.reference(
                self.reference_cache_path(), self._reference_features
            )
        return self._reference

    def evaluate(self, colorizer: Colorizer, reference: str | None = None) -> Evaluation:
        """FID, KID and SSIM of `colorizer`'s outputs on the split's sketches; a method that
        uses references gets them by the `reference` policy (default `metrics.reference`)."""
        return self.score(self.measure(colorizer, reference=reference), colorizer, reference)

    def measure(
        self,
        colorizer: Colorizer,
        start: int = 0,
        stop: int | None = None,
        keep: int = 0,
        reference: str | None = None,
    ) -> Measurements:
        """Colorize the split's rows start..stop (all by default) and measure the outputs;
        `keep` the first rows' images for a sample grid."""
        stop = self.n if stop is None else min(stop, self.n)
        reference = self.reference_policy(colorizer, reference)
        features, ssims, kept = [], [], []
        batches = self._batches("evaluating", self.batch_size, start, stop, reference)
        # Every path that measures comes through here: the one place the mode is applied.
        with colorizer.measuring(self.settings.generator_mode):
            for batch in batches:
                colour = colorizer(batch["sketch"], batch.get("reference"))
                if len(kept) * self.batch_size < keep:
                    kept.append({**{k: v.numpy() for k, v in batch.items()}, "generated": colour})
                generated = to_uint8(colour)
                features.append(self.backbone.features(generated))
                if self.paired:
                    ssims.append(ssim_per_pair(generated, to_uint8(batch["color"])))
        samples = None
        if kept:
            samples = {k: np.concatenate([np.asarray(b[k]) for b in kept])[:keep] for k in kept[0]}
        return Measurements(
            np.concatenate(features) if features else np.zeros((0, FEATURE_DIM), np.float32),
            np.concatenate(ssims) if ssims else np.zeros((0,), np.float32),
            samples,
        )

    def reference_policy(self, colorizer: Colorizer, reference: str | None = None) -> str | None:
        """The metrics.reference policy `colorizer` is measured under (None: it uses none)."""
        if not colorizer.needs_reference:
            return None
        return reference or self.settings.reference

    def score(
        self, measured: Measurements, colorizer: Colorizer, reference: str | None = None
    ) -> Evaluation:
        """The metrics of the outputs `measured` (one measure() call, or shards concatenated)
        under the `reference` policy they were measured with (default `metrics.reference`)."""
        standins = ((names.INCEPTION,) if not self.backbone.pretrained else ()) + (
            (names.VGG19,) if not colorizer.pretrained else ()
        )
        return Evaluation(
            fid=self.reference.gaussian.distance(measured.features),
            kid=kid(
                measured.features,
                self.reference.features,
                subsets=self.settings.kid_subsets,
                subset_size=self.settings.kid_subset_size,
                seed=self.config.seed,
            ),
            ssim=float(measured.ssims.mean()) if self.paired else None,
            n=len(measured.features),
            backbone=self.backbone.name,
            split=self.split,
            standins=standins,
            reference=self.reference_policy(colorizer, reference),
        )

    @property
    def batch_size(self) -> int:
        """Sketches per batch: the method's own (NST optimizes a batch together), else the
        metrics'."""
        return getattr(self.config.model, "batch_size", None) or self.settings.batch_size

    def _batches(
        self,
        what: str,
        batch_size: int,
        start: int = 0,
        stop: int | None = None,
        reference: str | None = None,
    ):
        """The split's rows start..stop (default: its first n), batched, with a progress bar."""
        stop = self.n if stop is None else stop
        dataset = self.data.eval_dataset(
            self.split, batch_size, stop, start=start, reference=reference
        )
        total = math.ceil((stop - start) / batch_size)
        return tqdm(dataset, total=total, desc=f"{what} {self.split}", disable=not self.progress)

    def _reference_features(self) -> np.ndarray:
        """Features of the split's real colour images."""
        return np.concatenate(
            [
                self.backbone.features(to_uint8(b["color"]))
                for b in self._batches("reference", self.settings.batch_size)
            ]
        )

    def reference_cache_path(self) -> Path:
        key = {
            "data": self.data.split_hash(self.split),
            "split": self.split,
            "n": self.n,
            "image_size": self.config.data.image_size,
            "backbone": self.backbone.name,
            "weights": self.backbone.weights_id,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.config.data.cache_dir / "reference-features" / f"{digest}.npy"
