"""Evaluate a generator on a data split: FID and KID against the split's colour images, SSIM
against each sketch's own colour image.

Generated and real colour images are compared at `data.image_size`, as uint8, the way a user
sees them; the backbone resizes both alike. The real images' features depend only on the data,
the image size and the backbone, so they are computed once and cached on disk under a key of
those: a sweep of many trials extracts them once.
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

from ganime_core.config import ExperimentConfig
from ganime_core.data.pipeline import TrainingData, to_uint8
from ganime_core.metrics import (
    FEATURE_DIM,
    Backbone,
    FeatureStatistics,
    KernelDistance,
    kid,
    load_backbone,
    ssim_per_pair,
)

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
            f"fid{self.metric_suffix}": self.fid,
            f"kid_mean{self.metric_suffix}": self.kid.mean,
            f"kid_std{self.metric_suffix}": self.kid.std,
        }
        if self.ssim is not None:
            metrics["ssim"] = self.ssim
        return metrics

    def summary(self) -> dict[str, object]:
        """The metrics plus how they were measured: `ganime evaluate`'s JSON line."""
        return {**self.metrics(), "ssim": self.ssim, "n": self.n, "backbone": self.backbone}


class Evaluator:
    """Measures generators on one split; load once, call `evaluate` after any number of epochs."""

    def __init__(
        self,
        config: ExperimentConfig,
        data: TrainingData | None = None,
        split: str = "val",
        backbone: Backbone | None = None,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.settings = config.metrics
        self.data = data or TrainingData(config)
        self.split = split
        self.progress = progress
        self.backbone = backbone or load_backbone(self.settings)
        available = len(self.data.examples(split, epoch=None))
        self.n = min(available, self.settings.max_images or available)
        if self.n < 2:
            raise ValueError(f"the {split} split has {self.n} image(s); FID needs at least 2")
        # SSIM compares a sketch's output with that sketch's own colour image: paired files only.
        self.paired = self.data.paired_files
        self.reference_features = self._reference_features()
        self.reference = FeatureStatistics.of(self.reference_features)

    def evaluate(self, generate: Generate) -> Evaluation:
        """FID, KID and SSIM of `generate`'s outputs on the split's sketches."""
        statistics = FeatureStatistics.empty(FEATURE_DIM)
        features, ssims = [], []
        for batch in self._batches("evaluating"):
            generated = to_uint8(generate(batch["sketch"]))
            batch_features = self.backbone.features(generated)
            statistics.update(batch_features)
            features.append(batch_features)
            if self.paired:
                ssims.append(ssim_per_pair(generated, to_uint8(batch["color"])))
        return Evaluation(
            fid=statistics.distance(self.reference),
            kid=kid(
                np.concatenate(features),
                self.reference_features,
                subsets=self.settings.kid_subsets,
                subset_size=self.settings.kid_subset_size,
                seed=self.config.seed,
            ),
            ssim=float(np.concatenate(ssims).mean()) if self.paired else None,
            n=statistics.count,
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
        """Features of the split's real colour images, from the cache or computed and cached."""
        path = self.reference_cache_path()
        if path.is_file():
            return np.load(path)
        features = np.concatenate(
            [self.backbone.features(to_uint8(b["color"])) for b in self._batches("reference")]
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            np.save(handle, features)
        os.replace(tmp, path)  # atomic: concurrent trials never read half a file
        return features

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
