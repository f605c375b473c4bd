"""The input pipeline on its own: images/s per CPU core, and the cores a GPU needs to be fed.

The real pipeline (`TrainingData.train_dataset`) on Kaggle-like files (1024x512 JPEG q95, as
bench.train_throughput makes them), decoding every step as a 256 px run on the full Kaggle
train split does (its decoded images do not fit in memory), with its tf.data pool sized to 1
thread, then to every usable core (`set_input_threads`, what a training process sets from its
CPUs). Only batches are produced: no model runs. images/s per core is the 1-thread rate.

Given a step rate (--images-per-second, or the fastest Pix2Pix row of a `ganime gpu-check
--json` report at the same size), it prints the cores per GPU that keep the step fed:
step rate / per-core rate, rounded up.

    python -m bench.input_pipeline                         # 256 px, batch 32
    python -m bench.input_pipeline --gpu-check gpu.json    # cores a GPU node needs
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from bench.machine import git_commit, positive_int, usable_cpus
from bench.train_throughput import Case, case_config, kaggle_like_folder
from ganime_core.data import pipeline


def images_per_second(config, threads: int, batches: int) -> float:
    """Batches of `config`'s first epoch on `threads` tf.data threads, after one untimed
    batch (the pipeline's start-up)."""
    pipeline.set_input_threads(threads)
    data = pipeline.TrainingData(config)
    iterator = iter(data.train_dataset(0))
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.train.batch_size / (time.perf_counter() - started)


def step_rate_from(report: Path, image_size: int) -> float:
    """The fastest Pix2Pix step at `image_size` in a `ganime gpu-check --json` report."""
    rows = json.loads(report.read_text())["rows"]
    rates = [
        row["images_per_second"]
        for row in rows
        if row["family"] == "pix2pix" and row["image_size"] == image_size
    ]
    if not rates:
        raise SystemExit(f"{report}: no pix2pix row at {image_size} px")
    return max(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.input_pipeline", description=__doc__)
    parser.add_argument("--size", type=positive_int, default=256)
    parser.add_argument("--batch", type=positive_int, default=32)
    parser.add_argument("--batches", type=positive_int, default=8, help="timed batches")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--images-per-second", type=float, help="the step rate to feed")
    rate.add_argument("--gpu-check", type=Path, help="a `ganime gpu-check --json` report")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "ganime")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    case = Case(args.size, args.batch)
    needed = (args.batches + 1) * args.batch
    root = kaggle_like_folder(args.work_dir, needed)
    config = case_config(case, 64, args.work_dir, root, needed).replace(
        {"data.decoded_cache_mb": 0}, source="bench"
    )
    cores = usable_cpus()
    one = images_per_second(config, 1, args.batches)
    every = images_per_second(config, cores, args.batches)
    figures = {
        "commit": git_commit(),
        "image_size": args.size,
        "batch_size": args.batch,
        "per_core_images_per_second": one,
        "cores": cores,
        "all_cores_images_per_second": every,
    }
    print(f"input pipeline at {args.size} px, batch {args.batch}, decoding every step:")
    print(f"  1 thread: {one:.1f} images/s (per core)")
    print(f"  {cores} threads: {every:.1f} images/s ({every / cores:.1f} per core)")
    step_rate = args.images_per_second
    if args.gpu_check is not None:
        step_rate = step_rate_from(args.gpu_check, args.size)
    if step_rate:
        cores_per_gpu = math.ceil(step_rate / one)
        figures.update(step_images_per_second=step_rate, cores_per_gpu=cores_per_gpu)
        print(f"  a step of {step_rate:.0f} images/s needs {cores_per_gpu} cores of these per GPU")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
