"""The cost of the paper's optimization-based Neural Style Transfer on this CPU, measured.

One `NeuralStyleTransfer` (the paper's settings, `NSTSettings`) is built once and reused for every
batch size; its VGG19 is the seeded untrained stand-in (`weights=None`), which does the same
arithmetic as the ImageNet weights. Content and style images are seeded uniform noise at
`--size` px. `stylize` traces its step function anew on every call, so each batch size is run
three times through the public `stylize`:

  first:  1 step, the first call at this shape (target features, tracing, one-off set-up);
  warm:   `--warmup` steps (target features, tracing, the warm-up steps);
  timed:  `--warmup` + `--steps` steps.

seconds/step = (timed - warm) / steps: the steps after the warm-up ones, with tracing and target
features cancelled out. call overhead = warm - warmup * seconds/step: what each `stylize` call
pays once on top of its steps. Derived, with the paper's 1,000 steps per image:

  images/s = batch / (1000 * seconds/step), the speed-up of each batch over batch 1, and the
  wall time of the paper's evaluation (3,545 test images x 1,000 steps) on N workers, each one
  process like this one running the batch size with the most images/s; the images are split
  evenly (ceil), a worker's last batch counts as full, and each batch also pays the call overhead.

The projection assumes workers exactly as fast as this process on this machine; a GPU is much
faster, so the figures are for this CPU only. Other load skews the figures: the report gives the
1-min load average at start and end and the cores this process kept busy (CPU s / wall s), so a
contended run shows. The exit code is 0 whatever the figures.

    python -m bench.nst_speed                                      # 256 px, batches 1 and 8
    python -m bench.nst_speed --size 64 --steps 5 --batches 1 4 8 --json /tmp/nst.json
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.config import NSTSettings
from ganime_core.style_transfer import NeuralStyleTransfer
from ganime_core.train import configure_process

PAPER_TEST_IMAGES = 3545  # Kaggle's val/ split, the paper's test set
DEFAULT_WORKERS = (1, 4, 8, 16, 32)
IMAGE_SEED = 0


@dataclass(frozen=True)
class BatchTiming:
    """One batch size's three `stylize` calls and what follows from them."""

    batch: int
    first_call_seconds: float  # 1 step, the first call at this shape
    warm_call_seconds: float  # `warmup` steps
    timed_call_seconds: float  # `warmup` + `steps` steps
    step_seconds: float  # (timed - warm) / steps
    call_overhead_seconds: float  # warm - warmup * step_seconds
    images_per_second: float  # batch / (paper steps * step_seconds)
    speedup: float  # images_per_second / batch 1's
    timed_call_cores: float  # this process's CPU seconds / wall seconds over the timed call


@dataclass(frozen=True)
class Projection:
    """The paper's evaluation split evenly over `workers` processes like this one."""

    workers: int
    images_per_worker: int
    batches_per_worker: int
    seconds: float


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.nst_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=positive_int, default=256, help="image side (default 256)")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--batch", type=positive_int, default=8, help="measure batch 1 and this one (default 8)"
    )
    sizes.add_argument(
        "--batches",
        type=positive_int,
        nargs="+",
        default=None,
        help="batch sizes to measure, e.g. 1 4 8 (1 is always added: the speed-up baseline)",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=20, help="timed steps per batch size (default 20)"
    )
    parser.add_argument(
        "--warmup", type=positive_int, default=2, help="untimed steps before them (default 2)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        nargs="+",
        default=list(DEFAULT_WORKERS),
        help="worker counts to project the paper's evaluation onto (default 1 4 8 16 32)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed_stylize(
    nst: NeuralStyleTransfer, content: np.ndarray, style: np.ndarray, steps: int
) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one `stylize` call; it reads each step's
    loss back, so all the work is done when it returns."""
    start, cpu = time.perf_counter(), time.process_time()
    nst.stylize(content, style, steps=steps)
    return time.perf_counter() - start, time.process_time() - cpu


def measure_batch(
    nst: NeuralStyleTransfer, batch: int, size: int, warmup: int, steps: int, paper_steps: int
) -> BatchTiming:
    """The three calls of the module docstring at one batch size (speed-up filled in later)."""
    rng = np.random.default_rng(IMAGE_SEED)
    content = rng.random((batch, size, size, 3), dtype=np.float32)
    style = rng.random((batch, size, size, 3), dtype=np.float32)
    progress(f"batch {batch}: first call (1 step)")
    first, _ = timed_stylize(nst, content, style, 1)
    progress(f"batch {batch}: first call {first:.1f} s; warm call ({warmup} steps)")
    warm, _ = timed_stylize(nst, content, style, warmup)
    progress(f"batch {batch}: warm call {warm:.1f} s; timed call ({warmup} + {steps} steps)")
    timed, timed_cpu = timed_stylize(nst, content, style, warmup + steps)
    step = (timed - warm) / steps
    progress(f"batch {batch}: timed call {timed:.1f} s, {step:.3f} s/step")
    return BatchTiming(
        batch=batch,
        first_call_seconds=first,
        warm_call_seconds=warm,
        timed_call_seconds=timed,
        step_seconds=step,
        call_overhead_seconds=warm - warmup * step,
        images_per_second=batch / (paper_steps * step),
        speedup=float("nan"),
        timed_call_cores=timed_cpu / timed,
    )


def project(best: BatchTiming, workers: int, images: int, paper_steps: int) -> Projection:
    """Wall time of `images` images at `paper_steps` steps each, split evenly over `workers`."""
    per_worker = math.ceil(images / workers)
    batches = math.ceil(per_worker / best.batch)
    seconds = batches * (paper_steps * best.step_seconds + best.call_overhead_seconds)
    return Projection(workers, per_worker, batches, seconds)


def load_average() -> float:
    """The 1-minute load average (nan where the OS has none): other processes competing."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def duration(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 2:
        return f"{seconds / 60:,.1f} min"
    if hours < 48:
        return f"{hours:,.1f} h"
    return f"{hours:,.0f} h ({hours / 24:,.1f} days)"


def table_lines(timings: list[BatchTiming], paper_steps: int) -> list[str]:
    row = "{:>5} {:>11} {:>15} {:>8} {:>12} {:>10} {:>9} {:>6}"
    lines = [
        row.format(
            "batch",
            "first call",
            "call overhead",
            "s/step",
            "s/step/image",
            "images/s",
            "speed-up",
            "cores",
        ),
        row.format("", "(1 step)", "(per call)", "", "", f"({paper_steps} st)", "vs 1", "used"),
    ]
    for t in timings:
        lines.append(
            row.format(
                t.batch,
                f"{t.first_call_seconds:.2f} s",
                f"{t.call_overhead_seconds:.2f} s",
                f"{t.step_seconds:.3f}",
                f"{t.step_seconds / t.batch:.3f}",
                f"{t.images_per_second:.5f}",
                f"{t.speedup:.2f}x",
                f"{t.timed_call_cores:.2f}",
            )
        )
    return lines


def projection_lines(
    projections: list[Projection], best: BatchTiming, paper_steps: int, cpus: int
) -> list[str]:
    lines = [
        f"projection: the paper's evaluation, {PAPER_TEST_IMAGES:,} test images x "
        f"{paper_steps:,} steps, batch {best.batch} per worker (the most images/s measured): "
        f"{best.step_seconds:.3f} s/step, + {best.call_overhead_seconds:.2f} s per batch",
        "{:>7} {:>14} {:>15}  {}".format("workers", "images/worker", "batches/worker", "wall time"),
    ]
    for p in projections:
        lines.append(
            f"{p.workers:>7} {p.images_per_worker:>14} {p.batches_per_worker:>15}  "
            f"{duration(p.seconds)}"
        )
    lines.append(
        "cores used: this process's CPU seconds / wall seconds over the timed call; well under "
        f"{cpus} at a large batch can mean other processes took CPU (see the load lines)"
    )
    lines.append(
        f"note: assumes every worker is a process as fast as this one ({cpus} CPU core(s) of this "
        "machine). A GPU is much faster; these figures are for this CPU."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    batches = sorted({1, *(args.batches or [args.batch])})
    workers = sorted(set(args.workers))
    cpus = usable_cpus()

    configure_process(cpus)  # before TensorFlow's first op, as a training process does
    settings = NSTSettings(family="nst")
    paper_steps = settings.steps
    command = " ".join(["python -m bench.nst_speed", *argv])
    load = load_average()
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    print(
        f"command: {command}\ncommit:  {git_commit()}\ncpus:    {cpus} (TensorFlow intra-op "
        f"threads {tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
        f"{tf.config.threading.get_inter_op_parallelism_threads()})\n"
        f"tf:      {tf.__version__} (keras {keras.__version__})\n"
        f"load:    {load:.2f} (1-min load average at start)",
        flush=True,
    )

    progress("building VGG19 (seeded untrained stand-in)")
    start = time.perf_counter()
    nst = NeuralStyleTransfer(settings, weights=None)
    build_seconds = time.perf_counter() - start
    print(
        f"nst:     {args.size} px, VGG19 untrained stand-in (same compute as ImageNet weights), "
        f"built once in {build_seconds:.2f} s; per batch size: {args.warmup} warm-up + "
        f"{args.steps} timed steps on seeded noise images",
        flush=True,
    )

    measured = [
        measure_batch(nst, batch, args.size, args.warmup, args.steps, paper_steps)
        for batch in batches
    ]
    single = measured[0].images_per_second  # batches are sorted and include 1
    timings = [
        BatchTiming(**{**asdict(t), "speedup": t.images_per_second / single}) for t in measured
    ]
    best = max(timings, key=lambda t: t.images_per_second)
    projections = [project(best, n, PAPER_TEST_IMAGES, paper_steps) for n in workers]

    print()
    print("\n".join(table_lines(timings, paper_steps)))
    print()
    print("\n".join(projection_lines(projections, best, paper_steps, cpus)))
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    load_end = load_average()
    print(
        f"load:    {load_end:.2f} at the end; this process used {cpu:.0f} CPU-s in {wall:.0f} s "
        f"(an average of {cpu / wall:.2f} of {cpus} cores): a 1-min load well above that "
        "average means other processes shared the CPU",
        flush=True,
    )
    if args.json is not None:
        report = {
            "command": command,
            "commit": git_commit(),
            "usable_cpus": cpus,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "load_average_1min_at_start": load,
            "load_average_1min_at_end": load_end,
            "process_cpu_seconds": cpu,
            "wall_seconds": wall,
            "size": args.size,
            "warmup_steps": args.warmup,
            "timed_steps": args.steps,
            "paper_steps_per_image": paper_steps,
            "paper_test_images": PAPER_TEST_IMAGES,
            "vgg19": "seeded untrained stand-in (weights=None)",
            "vgg19_build_seconds": build_seconds,
            "batches": [asdict(t) for t in timings],
            "best_batch": best.batch,
            "projection": [asdict(p) for p in projections],
            "projection_assumes": "each worker is one process as fast as this one on this CPU",
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
