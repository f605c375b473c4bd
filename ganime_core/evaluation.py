"""Evaluate a colorizer on a data split: FID and KID against the split's colour images, SSIM
against each sketch's own colour image, and how closely the outputs follow their references'
colours (ganime_core/metrics/colour.py; names.py says when each is measured). Any method goes
through ganime_core.colorizers; one that colorizes after a reference gets each sketch's
reference by `metrics.reference`.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganime_core.colorizers import Colorizer
from ganime_core.config import AssetsConfig, ExperimentConfig, MetricsConfig
from ganime_core.data.annotations import Annotations
from ganime_core.data.pipeline import TrainingData, to_uint8
from ganime_core.data.synth import PALETTE_PARTS, PART_ID
from ganime_core.metrics import (
    FEATURE_DIM,
    Backbone,
    FrechetReference,
    KernelDistance,
    kid,
    load_backbone,
    names,
    ssim_per_pair,
)
from ganime_core.metrics import colour as colour_metrics
from ganime_core.pretrained import inception_standin, named_weights
from ganime_core.splits import folder_of

PALETTE_IDS = tuple(PART_ID[part] for part in PALETTE_PARTS)  # the parts held to a palette


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
    # How closely the outputs follow their references' colours (names.py says when each is
    # measured); None where it cannot be.
    part_delta_e: float | None = None
    ab_distance: float | None = None
    swap: float | None = None

    def metrics(self) -> dict[str, float]:
        """Metric name -> value, names as logged: each names the split, the stand-ins that
        shaped it and the ground-truth reference where that was the policy."""
        values = {
            names.FID: self.fid,
            names.KID_MEAN: self.kid.mean,
            names.KID_STD: self.kid.std,
            names.SSIM: self.ssim,
            names.PART_DELTA_E: self.part_delta_e,
            names.AB_DISTANCE: self.ab_distance,
            names.SWAP: self.swap,
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
        """The value of `objective` (fid, kid, ssim, ...); None where it was not measured."""
        return self.metrics().get(self.name(objective))

    def summary(self) -> dict[str, object]:
        """The metrics plus how they were measured: `ganime evaluate`'s JSON line."""
        ssim = {self.name(names.SSIM): self.ssim}  # null on unpaired data, not left out
        summary = {**self.metrics(), **ssim, "n": self.n, "backbone": self.backbone}
        if self.reference is not None:
            summary["reference"] = self.reference
        return summary


def _unmeasured() -> np.ndarray:
    return np.zeros((0,), np.float64)


@dataclass(frozen=True)
class Measurements:
    """What scoring needs of some of a split's outputs, one row per output: backbone features;
    on paired files each output's SSIM against its sketch's colour image; and the colour
    metrics' per-image terms where they are measured (empty arrays where not). Shards measured
    apart (Ray tasks) concatenate, in row order, into exactly what one process would have
    measured."""

    features: np.ndarray  # (n, 2048)
    ssims: np.ndarray  # (n,), empty on unpaired files
    # The first rows' images in [-1, 1] (sketch, reference if any, generated, color), when asked
    samples: dict[str, np.ndarray] | None = None
    part_errors: np.ndarray = field(default_factory=_unmeasured)  # (n,) ΔE, NaN: no part
    ab_distances: np.ndarray = field(default_factory=_unmeasured)  # (n,) output vs reference
    swap_moved: np.ndarray = field(default_factory=_unmeasured)  # (n,) ΔE the outputs moved
    swap_differ: np.ndarray = field(default_factory=_unmeasured)  # (n,) ΔE the palettes differ

    @staticmethod
    def concatenate(parts: list[Measurements]) -> Measurements:
        def joined(column: str) -> np.ndarray:
            return np.concatenate([getattr(part, column) for part in parts])

        return Measurements(
            joined("features"),
            joined("ssims"),
            parts[0].samples,
            *(joined(c) for c in ("part_errors", "ab_distances", "swap_moved", "swap_differ")),
        )

    def per_image(self) -> dict[str, np.ndarray]:
        """The metrics that are a mean over images, each (n,) or empty: what the compare's
        bootstrap resamples."""
        return {
            names.SSIM: self.ssims,
            names.PART_DELTA_E: self.part_errors,
            names.AB_DISTANCE: self.ab_distances,
        }

    def ratios(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The metrics that are a ratio of sums over images: swap."""
        return {names.SWAP: (self.swap_moved, self.swap_differ)}


@dataclass(frozen=True)
class PartRows:
    """What the part colour metrics need of some rows of an annotated split."""

    labels: np.ndarray  # uint8 (n, s, s): part ids (ganime_core/data/synth.py PARTS)
    palettes: np.ndarray  # uint8 (n, len(PALETTE_PARTS), 3): the colours each output should take
    swapped_palettes: np.ndarray | None  # the same for the swapped references (metrics.swap)


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
    set's reference once.

    The seeded stand-in InceptionV3 reads no file: the same settings always give the same
    network, so every cache in the process shares it, and a process that evaluates through
    separate commands (tests call CLI mains in-process) builds it once. Backbones with weights
    stay per cache: each new cache checks its weights file again."""

    # Process-wide on purpose: the stand-ins every instance shares, by the key `backbone` uses.
    _standins: dict[tuple[object, ...], Backbone] = {}

    def __init__(self) -> None:
        self._backbones: dict[tuple[object, ...], Backbone] = {}
        self._references: dict[Path, Reference] = {}
        self.backbone_builds = 0  # backbones this cache took on: reuse is observable (and tested)

    def backbone(self, settings: MetricsConfig, assets: AssetsConfig) -> Backbone:
        # Keyed by where the weights are named, not by the file found: Keras' cached file is
        # one pinned file, fetched or not, and hashing it here would repeat load_backbone's check.
        key = (
            inception_standin(settings, assets),
            str(named_weights(settings)),
            settings.backbone_size,
        )
        if key not in self._backbones:
            standin = key[0]
            backbone = self._standins.get(key) if standin else None
            if backbone is None:
                backbone = load_backbone(settings, assets)
                if standin:  # two threads may both build; both then take the first one kept
                    backbone = self._standins.setdefault(key, backbone)
            self._backbones[key] = backbone
            self.backbone_builds += 1
        return self._backbones[key]

    def reference(self, path: Path, compute: Callable[[], np.ndarray]) -> Reference:
        """The reference whose features are cached at `path`, computed and written if absent."""
        if path not in self._references:
            features = _read_or_write(path, compute)
            gaussian = FrechetReference.of(features)  # low-rank when fewer images than dims
            self._references[path] = Reference(features, gaussian)
        return self._references[path]


def _mean(per_image: np.ndarray) -> float | None:
    """The mean over the images that have a value; None if none was measured."""
    finite = per_image[np.isfinite(per_image)]
    return float(finite.mean()) if finite.size else None


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
        # Part maps and palettes (generated data): what the part colour error and swap need.
        self.annotations = Annotations.of(self.data.root) if self.paired else None
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
        parts = self._part_rows(reference, start, stop)
        swap = parts is not None and parts.swapped_palettes is not None
        features, ssims, kept = [], [], []
        colour_terms: dict[str, list[np.ndarray]] = {
            "part_errors": [],
            "ab_distances": [],
            "swap_moved": [],
            "swap_differ": [],
        }
        batches = self._batches("evaluating", self.batch_size, start, stop, reference, swap)
        row = 0
        # Every path that measures comes through here: the one place the mode is applied.
        with colorizer.measuring(self.settings.generator_mode):
            for batch in batches:
                colour = colorizer(batch["sketch"], batch.get("reference"))
                if len(kept) * self.batch_size < keep:
                    shown = {k: v.numpy() for k, v in batch.items() if k != "swapped_reference"}
                    kept.append({**shown, "generated": colour})
                generated = to_uint8(colour)
                features.append(self.backbone.features(generated))
                if self.paired:
                    ssims.append(ssim_per_pair(generated, to_uint8(batch["color"])))
                outputs = generated.numpy()
                if reference is not None:
                    references = to_uint8(batch["reference"]).numpy()
                    colour_terms["ab_distances"].append(
                        colour_metrics.ab_distance(outputs, references)
                    )
                if parts is not None:
                    rows = slice(row, row + len(outputs))
                    labels, palettes = parts.labels[rows], parts.palettes[rows]
                    colour_terms["part_errors"].append(
                        colour_metrics.part_colour_errors(outputs, labels, palettes, PALETTE_IDS)
                    )
                if swap:
                    swapped = colorizer(batch["sketch"], batch["swapped_reference"])
                    moved, differ = colour_metrics.swap_terms(
                        outputs,
                        to_uint8(swapped).numpy(),
                        labels,
                        palettes,
                        parts.swapped_palettes[rows],
                        PALETTE_IDS,
                    )
                    colour_terms["swap_moved"].append(moved)
                    colour_terms["swap_differ"].append(differ)
                row += len(outputs)
        samples = None
        if kept:
            samples = {k: np.concatenate([np.asarray(b[k]) for b in kept])[:keep] for k in kept[0]}
        return Measurements(
            np.concatenate(features) if features else np.zeros((0, FEATURE_DIM), np.float32),
            np.concatenate(ssims) if ssims else np.zeros((0,), np.float32),
            samples,
            **{
                name: np.concatenate(terms).astype(np.float64) if terms else _unmeasured()
                for name, terms in colour_terms.items()
            },
        )

    def _part_rows(self, reference: str | None, start: int, stop: int) -> PartRows | None:
        """The part maps of rows start..stop and the palettes their outputs are held to: the
        reference's (the sketch's own for a method without one, or whose reference shares its
        palette), and with metrics.swap the swapped reference's. None without annotations."""
        if self.annotations is None:
            return None
        folder = folder_of(self.split)
        files = self.data.examples(self.split, epoch=None).sketch_path[start:stop]
        labels = self.annotations.labels(folder, files, self.config.data.image_size)
        if reference in (None, "ground_truth", "same_palette"):
            palettes = self.annotations.palettes(folder, files)
        else:
            paths, _ = self.data.reference_files(self.split, reference)
            palettes = self._palettes_of(paths[start:stop])
        swapped = None
        if reference is not None and self.settings.swap:
            paths, _ = self.data.swapped_reference_files(self.split, reference)
            swapped = self._palettes_of(paths[start:stop])
        return PartRows(labels, palettes, swapped)

    def _palettes_of(self, references: np.ndarray) -> np.ndarray:
        """The palette of each reference file: a colour image of train/ or val/, or a
        same-palette reference in references/<folder>/, which shares its image's palette."""
        return np.concatenate(
            [self.annotations.palettes(Path(path).parent.name, [path]) for path in references]
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
            part_delta_e=_mean(measured.part_errors),
            ab_distance=_mean(measured.ab_distances),
            swap=(
                colour_metrics.swap_ratio(measured.swap_moved, measured.swap_differ)
                if measured.swap_moved.size
                else None
            ),
        )

    @property
    def batch_size(self) -> int:
        """Sketches per batch: the method's own (NST optimizes a batch together), else the
        metrics'."""
        return self.config.model.colorize_batch_size or self.settings.batch_size

    def _batches(
        self,
        what: str,
        batch_size: int,
        start: int = 0,
        stop: int | None = None,
        reference: str | None = None,
        swapped: bool = False,
    ):
        """The split's rows start..stop (default: its first n), batched, with a progress bar."""
        stop = self.n if stop is None else stop
        dataset = self.data.eval_dataset(
            self.split, batch_size, stop, start=start, reference=reference, swapped=swapped
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
