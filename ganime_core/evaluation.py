"""Evaluate a generator on a data split: FID and KID against the split's colour images, SSIM
against each sketch's own colour image.

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
import tensorflow as tf
from tqdm import tqdm

from ganime_core.config import AssetsConfig, ExperimentConfig, MetricsConfig
from ganime_core.data.pipeline import TrainingData, to_uint8
from ganime_core.metrics import (
    Backbone,
    FeatureStatistics,
    FrechetReference,
    KernelDistance,
    kid,
    load_backbone,
    names,
    ssim_per_pair,
)
from ganime_core.pretrained import inception_metric_suffix, named_weights

# sketch in [-1, 1] (n, s, s, 3) -> colour in [-1, 1], e.g. ModelFamily.generate
Generate = Callable[[tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class Evaluation:
    fid: float
    kid: KernelDistance
    ssim: float | None  # None when the split holds no true pairs (unpaired layout)
    n: int
    backbone: str
    metric_suffix: str  # "" for ImageNet weights, "_untrained" otherwise

    def metrics(self) -> dict[str, float]:
        """Metric name -> value, names as logged: FID and KID carry the backbone's suffix."""
        metrics = {
            names.fid(self.metric_suffix): self.fid,
            names.kid_mean(self.metric_suffix): self.kid.mean,
            names.kid_std(self.metric_suffix): self.kid.std,
        }
        if self.ssim is not None:
            metrics[names.SSIM] = self.ssim
        return metrics

    def value(self, objective: str) -> float | None:
        """The value of `objective` (fid, kid, ssim); None for SSIM on unpaired data."""
        return self.metrics().get(names.logged_name(objective, self.metric_suffix))

    def summary(self) -> dict[str, object]:
        """The metrics plus how they were measured: `ganime evaluate`'s JSON line."""
        return {**self.metrics(), names.SSIM: self.ssim, "n": self.n, "backbone": self.backbone}


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
            inception_metric_suffix(settings, assets),
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
    """Measures generators on one split; load once, call `evaluate` after any number of epochs."""

    def __init__(
        self,
        config: ExperimentConfig,
        data: TrainingData | None = None,
        split: str = "val",
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
        self.reference = cache.reference(self.reference_cache_path(), self._reference_features)

    def evaluate(self, generate: Generate) -> Evaluation:
        """FID, KID and SSIM of `generate`'s outputs on the split's sketches."""
        features, ssims = [], []
        for batch in self._batches("evaluating"):
            generated = to_uint8(generate(batch["sketch"]))
            features.append(self.backbone.features(generated))
            if self.paired:
                ssims.append(ssim_per_pair(generated, to_uint8(batch["color"])))
        features = np.concatenate(features)
        return Evaluation(
            fid=self.reference.gaussian.distance(features),
            kid=kid(
                features,
                self.reference.features,
                subsets=self.settings.kid_subsets,
                subset_size=self.settings.kid_subset_size,
                seed=self.config.seed,
            ),
            ssim=float(np.concatenate(ssims).mean()) if self.paired else None,
            n=len(features),
            backbone=self.backbone.name,
            metric_suffix=self.backbone.metric_suffix,
        )

    def _batches(self, what: str):
        dataset = self.data.eval_dataset(
            self.split, batch_size=self.settings.batch_size, limit=self.n
        )
        total = math.ceil(self.n / self.settings.batch_size)
        return tqdm(dataset, total=total, desc=f"{what} {self.split}", disable=not self.progress)

    def _reference_features(self) -> np.ndarray:
        """Features of the split's real colour images."""
        return np.concatenate(
            [self.backbone.features(to_uint8(b["color"])) for b in self._batches("reference")]
        )

    def reference_cache_path(self) -> Path:
        key = {
            "data": self.data.content_hash,
            "split": self.split,
            "n": self.n,
            "image_size": self.config.data.image_size,
            "backbone": self.backbone.name,
            "weights": self.backbone.weights_id,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.config.data.cache_dir / "reference-features" / f"{digest}.npy"
