"""Style2paints V1's "lazy U-Net" (the paper's Fig. 6), measured: the gradient that reaches the
residual U-Net's mid-level over the first training steps, with and without the guide decoders.

Two Style2paints families are built from one seed, on the same generated data and batches
(experiments/style2paints_smoke.yaml at --size px and --base-filters): `guided` with the paper's
guide weights (alpha 0.3, beta 0.9) and `unguided` with both 0, where the guide decoders take no
part in the loss: the plain residual U-Net. Before each of --steps train steps, the global norm
of gen_total's gradient at the mid-level (Style2paints.mid_level_gradient_norm: the 1/32-size
residual blocks and the hint's Dense) is recorded, and the step's painting L1.

Writes <out>.csv (step, variant, mid_gradient_norm, painting_l1) and <out>.png (the norms per
step, log scale), and prints each variant's mean norm over the steps. VGG19 has its ImageNet
weights when Keras' file is here (`ganime assets fetch vgg19`), else the seeded stand-in: the
hint's values differ, the gradient's path does not.

    python -m bench.lazy_unet                                 # 64 px, 16 base filters, 60 steps
    python -m bench.lazy_unet --size 32 --base-filters 4 --steps 10 --out /tmp/lazy
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from bench.machine import git_commit, positive_int
from ganime_core.config import ExperimentConfig, load_config
from ganime_core.data.pipeline import TrainingData
from ganime_core.families import build_family
from ganime_core.train import prepare

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "experiments" / "style2paints_smoke.yaml"
VARIANTS = {"guided": (0.3, 0.9), "unguided": (0.0, 0.0)}  # (alpha, beta)


def variant_config(args: argparse.Namespace, alpha: float, beta: float) -> ExperimentConfig:
    overrides = [
        f"data.image_size={args.size}",
        f"data.synthetic.count={args.images}",
        f"model.base_filters={args.base_filters}",
        f"model.alpha={alpha}",
        f"model.beta={beta}",
        f"train.batch_size={args.batch_size}",
        f"seed={args.seed}",
    ]
    return load_config(SMOKE, overrides)


def batches(config: ExperimentConfig, steps: int):
    """The first `steps` training batches, epoch after epoch: the same for every variant."""
    data, epoch, taken = TrainingData(config), 0, 0
    while taken < steps:
        for batch in data.train_dataset(epoch):
            if taken == steps:
                return
            yield batch
            taken += 1
        epoch += 1


def measure(config: ExperimentConfig, steps: int) -> tuple[list[tuple[float, float]], bool]:
    """(mid-level gradient norm, painting L1) before each of `steps` train steps, and whether
    VGG19 had its ImageNet weights."""
    prepare(config)  # one seed: both variants start from the same weights
    family = build_family(config)
    gradient_norm = tf.function(family.mid_level_gradient_norm)
    train_step = tf.function(family.train_step)
    rows = []
    for batch in batches(config, steps):
        norm = float(gradient_norm(batch))
        losses = train_step(batch)
        rows.append((norm, float(losses["painting_l1"])))
    return rows, not family.standin


def plot(results: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    figure, axis = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for variant, rows in results.items():
        alpha, beta = VARIANTS[variant]
        label = f"{variant} (alpha {alpha}, beta {beta})"
        axis.plot(range(1, len(rows) + 1), [norm for norm, _ in rows], label=label)
    axis.set_yscale("log")
    axis.set_xlabel("train step")
    axis.set_ylabel("gradient norm at the mid-level")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=64)
    parser.add_argument("--base-filters", type=positive_int, default=16)
    parser.add_argument("--batch-size", type=positive_int, default=4)
    parser.add_argument("--images", type=positive_int, default=200, help="generated pairs")
    parser.add_argument("--steps", type=positive_int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "lazy_unet")
    args = parser.parse_args(argv)

    results = {}
    for variant, (alpha, beta) in VARIANTS.items():
        config = variant_config(args, alpha, beta)
        results[variant], imagenet = measure(config, args.steps)
        norms = np.array([norm for norm, _ in results[variant]])
        print(
            f"{variant}: mid-level gradient norm mean {norms.mean():.4g} over {args.steps} steps "
            f"(first {norms[0]:.4g}, last {norms[-1]:.4g}); painting L1 "
            f"{results[variant][0][1]:.3f} -> {results[variant][-1][1]:.3f}"
        )
    guided = np.mean([n for n, _ in results["guided"]])
    unguided = np.mean([n for n, _ in results["unguided"]])
    print(f"guided / unguided mean norm: {guided / unguided:.3g}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "variant", "mid_gradient_norm", "painting_l1"])
        for variant, rows in results.items():
            for step, (norm, l1) in enumerate(rows, start=1):
                writer.writerow([step, variant, f"{norm:.6g}", f"{l1:.6g}"])
    vgg = "ImageNet VGG19" if imagenet else "stand-in VGG19"
    title = (
        f"Style2paints mid-level gradient, {args.size} px, base {args.base_filters}, batch "
        f"{args.batch_size}, {vgg} (commit {git_commit()})"
    )
    plot(results, args.out.with_suffix(".png"), title)
    print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
