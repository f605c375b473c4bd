"""FID's cost on a 2-core CPU: the Fréchet distance (paper's sqrtm form against our eigh form) and
InceptionV3 feature extraction.

  frechet:  2048-d statistics of 3,000 correlated random feature vectors per set (as from 3,000
            images); each form timed `--repeats` times, best time reported, and the two values'
            relative difference.
  features: images/s of `Backbone.features` on uint8 batches at the backbone's input size (no
            resize), after one untimed batch that traces the graph. The untrained backbone is
            timed: weights do not change the arithmetic.

    python -m bench.metrics_speed
    python -m bench.metrics_speed --samples 1000 --batches 3 --json /tmp/metrics.json
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.machine import git_commit, usable_cpus
from ganime_core.config import MetricsConfig
from ganime_core.metrics import FeatureStatistics, frechet_distance, frechet_distance_sqrtm

FEATURE_DIM = 2048


def best_seconds(function: Callable[[], float], repeats: int) -> tuple[float, float]:
    """(fastest wall time, the value) over `repeats` calls."""
    times, value = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def frechet_case(samples: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(FEATURE_DIM, FEATURE_DIM)) / np.sqrt(FEATURE_DIM)

    def features(shift: float) -> np.ndarray:
        return np.abs(rng.normal(size=(samples, FEATURE_DIM)) @ mixing + 0.5) + shift

    a, b = FeatureStatistics.of(features(0.0)), FeatureStatistics.of(features(0.05))
    args = (a.mean, a.covariance, b.mean, b.covariance)
    eigh_s, ours = best_seconds(lambda: frechet_distance(*args), repeats)
    sqrtm_s, paper = best_seconds(lambda: frechet_distance_sqrtm(*args), repeats)
    return {
        "samples": samples,
        "dim": FEATURE_DIM,
        "sqrtm_seconds": sqrtm_s,
        "eigh_seconds": eigh_s,
        "speedup": sqrtm_s / eigh_s,
        "fid_eigh": ours,
        "fid_sqrtm": paper,
        "relative_difference": abs(ours - paper) / abs(paper),
    }


def features_case(size: int, batch: int, batches: int) -> dict[str, float]:
    from ganime_core.metrics import load_backbone

    backbone = load_backbone(MetricsConfig(allow_untrained_backbone=True, backbone_size=size))
    images = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    backbone.features(images)  # traces the graph
    start = time.perf_counter()
    for _ in range(batches):
        backbone.features(images)
    seconds = time.perf_counter() - start
    return {
        "size": size,
        "batch": batch,
        "batches": batches,
        "seconds": seconds,
        "images_per_second": batch * batches / seconds,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_speed", description=__doc__)
    parser.add_argument("--samples", type=int, default=3000, help="samples per set (default 3000)")
    parser.add_argument("--repeats", type=int, default=2, help="timings per form (default 2)")
    parser.add_argument("--size", type=int, default=256, help="backbone input side (default 256)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=5, help="timed batches (default 5)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    command = " ".join(["python -m bench.metrics_speed", *argv])
    print(f"command: {command}\ncommit:  {git_commit()}\ncpus:    {usable_cpus()}", flush=True)
    frechet = frechet_case(args.samples, args.repeats)
    print(
        f"frechet  {frechet['dim']}-d, {frechet['samples']} samples per set: "
        f"sqrtm {frechet['sqrtm_seconds']:.2f} s, eigh {frechet['eigh_seconds']:.2f} s, "
        f"{frechet['speedup']:.1f}x faster; FID {frechet['fid_eigh']:.6f} vs "
        f"{frechet['fid_sqrtm']:.6f} (relative difference {frechet['relative_difference']:.1e})",
        flush=True,
    )
    features = features_case(args.size, args.batch, args.batches)
    print(
        f"features InceptionV3 at {features['size']} px, batch {features['batch']}: "
        f"{features['images_per_second']:.1f} images/s over {features['batches']} batches"
    )
    if args.json:
        report = {"command": command, "commit": git_commit(), "frechet": frechet}
        args.json.write_text(json.dumps({**report, "features": features}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
