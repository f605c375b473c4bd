"""What `ganime compare experiments/compare_paper.yaml` would cost, from costs measured here.

For each method of the compare file (its seed-0 run, as the file resolves it), on seeded noise
at the file's image size and each method's own batch size:
  - a method that trains: its train step, `--steps` timed steps after one untimed (tracing) step:
    seconds per image = seconds per step / batch;
  - NST: seconds per step of its batch (`NeuralStyleTransfer.stylize` with 1 and 1 + `--steps`
    steps; the difference cancels tracing and target features): seconds per image-step;
  - every method: InceptionV3 features of its outputs, seconds per image.
VGG19 and InceptionV3 are the seeded stand-ins (no ImageNet weights here): the same arithmetic.
Fast NST is not measured (its TF Hub model cannot be fetched here).

The projection: the Kaggle set's 14,224 train and 3,545 test images; a trained run costs epochs x
14,224 x seconds per image plus its evaluation (3,545 images: generator forward pass counted at
a third of a train step, plus features); NST costs 3,545 x steps x seconds per image-step. Runs
are independent, and NST's split shards, so N workers as fast as this process take about
max(total / N, the longest run). A GPU is far faster than this CPU; the figures are CPU
figures, the base that `ganime gpu-check` (issue 17) will scale.

    python -m bench.compare_cost                      # about 5 minutes
    python -m bench.compare_cost --steps 1 --json /tmp/cost.json
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.families import build_family
from ganime_core.metrics import load_backbone
from ganime_core.style_transfer import NeuralStyleTransfer
from ganime_core.train import configure_process
from orchestration.compare.spec import load_compare

REPO = Path(__file__).resolve().parents[1]
KAGGLE_TRAIN, KAGGLE_TEST = 14224, 3545
DEFAULT_WORKERS = (1, 8, 18, 32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_cost", description=__doc__)
    parser.add_argument("--compare", type=Path, default=REPO / "experiments" / "compare_paper.yaml")
    parser.add_argument("--steps", type=positive_int, default=2, help="timed steps (default 2)")
    parser.add_argument("--workers", type=positive_int, nargs="+", default=list(DEFAULT_WORKERS))
    parser.add_argument("--json", type=Path, default=None)
    return parser


def noise(shape: tuple[int, ...], seed: int) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32))


def train_seconds_per_image(config, steps: int) -> float:
    family = build_family(config, pretrained=False)
    size, batch = config.data.image_size, config.train.batch_size
    shape = (batch, size, size, 3)
    example = {"sketch": noise(shape, 0), "color": noise(shape, 1), "reference": noise(shape, 2)}
    step = tf.function(family.train_step)
    step(example)  # traces
    started = time.perf_counter()
    for _ in range(steps):
        losses = step(example)
    _ = {k: float(v) for k, v in losses.items()}  # wait for the last step
    return (time.perf_counter() - started) / steps / batch


def nst_seconds_per_image_step(config, steps: int) -> float:
    settings = config.model
    size, batch = config.data.image_size, settings.batch_size
    transfer = NeuralStyleTransfer(settings, weights=None)
    content, style = noise((batch, size, size, 3), 0), noise((batch, size, size, 3), 1)

    def run(n: int) -> float:
        started = time.perf_counter()
        np.asarray(transfer.stylize((content + 1) / 2, (style + 1) / 2, steps=n))
        return time.perf_counter() - started

    run(1)  # the first call at this shape
    return (run(1 + steps) - run(1)) / steps / batch


def feature_seconds_per_image(config) -> float:
    metrics = config.metrics.model_copy(update={"allow_untrained_backbone": True})
    backbone = load_backbone(metrics, config.assets)
    size = config.data.image_size
    images = tf.cast((noise((32, size, size, 3), 3) + 1) * 127.5, tf.uint8)
    backbone.features(images)  # traces
    started = time.perf_counter()
    backbone.features(images)
    return (time.perf_counter() - started) / 32


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_process(usable_cpus())
    compare = load_compare(args.compare, ["data.path=null"])
    first = {run.method: run.config for run in compare.runs if run.seed == compare.runs[0].seed}
    seeds = len(compare.config.seed_list())
    features = feature_seconds_per_image(next(iter(first.values())))
    rows, runs = [], []  # runs: hours of each run, for the projection
    for method, config in first.items():
        print(f"measuring {method} ...", file=sys.stderr, flush=True)
        family = config.model.family
        if family == "fast_nst":
            rows.append({"method": method, "measured": "not here (no TF Hub model)"})
            continue
        evaluation = KAGGLE_TEST * features
        if config.model.trainable:
            per_image = train_seconds_per_image(config, args.steps)
            hours = (config.train.epochs * KAGGLE_TRAIN * per_image
                     + KAGGLE_TEST * (per_image / 3) + evaluation) / 3600  # fmt: skip
            measured = f"{per_image:.3f} s per image (train step, batch {config.train.batch_size})"
            detail = f"{config.train.epochs} epochs"
        else:
            per_image = nst_seconds_per_image_step(config, args.steps)
            hours = (KAGGLE_TEST * config.model.steps * per_image + evaluation) / 3600
            measured = f"{per_image:.3f} s per image-step (batch {config.model.batch_size})"
            detail = f"{config.model.steps} steps x {KAGGLE_TEST} images"
        rows.append({"method": method, "measured": measured, "work": detail, "hours": hours})
        runs += [(method, hours, family == "nst")] * seeds
    total = sum(hours for _, hours, _ in runs)
    longest = max((hours for _, hours, shardable in runs if not shardable), default=0.0)
    projection = {n: max(total / n, longest) for n in args.workers}
    size = next(iter(first.values())).data.image_size
    print(f"\n{compare.name}: {len(first)} methods x {seeds} seeds at {size} px; "
          f"this machine: {usable_cpus()} CPUs (commit {git_commit()})")  # fmt: skip
    print(f"InceptionV3 features: {features:.3f} s per image\n")
    print("| method | measured here | work per seed | hours per seed |")
    print("|---|---|---|---|")
    for row in rows:
        hours = f"{row['hours']:.0f}" if "hours" in row else "—"
        print(f"| {row['method']} | {row['measured']} | {row.get('work', '—')} | {hours} |")
    print(f"\nall runs: {total:.0f} h in one process like this one; the longest run that cannot "
          f"be split: {longest:.0f} h")  # fmt: skip
    for n, hours in projection.items():
        print(f"  on {n} workers as fast as this process: about {hours:.0f} h ({hours / 24:.1f} d)")
    if args.json:
        report = {
            "rows": rows,
            "total_hours": total,
            "longest_hours": longest,
            "projection_hours": projection,
            "features_s_per_image": features,
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
