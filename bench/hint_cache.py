"""Style2paints' train step with its hints cached per reference file against computed every step.

Style2paints' hint V(r) is a function of the reference image alone. Where each training sketch's
reference is one fixed image (training_reference own or same_palette), `precompute` computes V
of every train file's reference once and a step looks its batch's rows up by the pipeline's
"key"; without the key the step runs the hint encoder (VGG19 fc1 at 224 px) on the batch.

For each case one family is built and the training loop's own step (`train.distributed_step`)
is timed on one real batch of the input pipeline (unjittered), fed again every step: with its
"key" (the cached hints) and without it (the encoder every step). The two take turns in rounds,
each round starting with one untimed step, so a drift in machine speed falls on both alike;
the figure is the median over rounds of the seconds per step. The one-time `precompute` is
timed too. The exit code is 0 whatever the figures.

    python -m bench.hint_cache                                   # compare.yaml's and the paper's
    python -m bench.hint_cache --cases 64x8x8 --rounds 3 --json /tmp/hints.json
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import tensorflow as tf

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.config import load_config
from ganime_core.data.pipeline import TrainingData
from ganime_core.families import build_family
from ganime_core.train import configure_process, distributed_step

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "style2paints.yaml"
# image size x base_filters x global batch: compare.yaml's Style2paints, then style2paints.yaml's
DEFAULT_CASES = ("64x8x8", "64x16x4")


@dataclass(frozen=True)
class Case:
    image_size: int
    base_filters: int
    batch_size: int

    @classmethod
    def parse(cls, text: str) -> Case:
        try:
            size, filters, batch = (int(part) for part in text.split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"a case is SIZExBASE_FILTERSxBATCH, e.g. 64x8x8; got {text!r}"
            ) from None
        return cls(size, filters, batch)


@dataclass(frozen=True)
class Result:
    case: str
    uncached_ms: float  # median over rounds of a step's milliseconds, the encoder every step
    cached_ms: float  # the same with the hints looked up
    speedup: float
    precompute_seconds: float  # the tables of every train file, once
    rounds: int
    steps: int


def measure(
    case: Case, rounds: int, steps: int, overrides: list[str], cache: Path, count: int
) -> Result:
    config = load_config(
        EXPERIMENT,
        [
            f"data.image_size={case.image_size}",
            f"data.synthetic.count={count}",  # 80% are train files: the table's rows
            "data.jitter=false",
            f"data.cache_dir={cache}",
            f"model.base_filters={case.base_filters}",
            "model.allow_untrained_vgg=true",
            "model.training_reference=own",
            f"train.batch_size={case.batch_size}",
            *overrides,
        ],
    )
    data = TrainingData(config)
    family = build_family(config)
    started = time.perf_counter()
    family.precompute(data)
    precompute = time.perf_counter() - started
    step = distributed_step(family, tf.distribute.get_strategy(), config.train.jit_compile)
    keyed = next(iter(data.train_dataset(0)))
    unkeyed = {name: value for name, value in keyed.items() if name != "key"}
    times: dict[str, list[float]] = {"uncached": [], "cached": []}
    for round_ in range(rounds):
        order = ("uncached", "cached") if round_ % 2 == 0 else ("cached", "uncached")
        for feed in order:
            batch = keyed if feed == "cached" else unkeyed
            _finish(step(batch))  # untimed: the first call traces
            started = time.perf_counter()
            for _ in range(steps):
                _finish(step(batch))
            times[feed].append((time.perf_counter() - started) / steps)
    uncached, cached = (statistics.median(times[feed]) * 1e3 for feed in ("uncached", "cached"))
    name = f"{case.image_size}x{case.base_filters}x{case.batch_size}"
    return Result(name, uncached, cached, uncached / cached, precompute, rounds, steps)


def _finish(losses: dict[str, tf.Tensor]) -> None:
    for value in losses.values():
        float(value)  # waits for the step, as the train loop does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hint_cache", description=__doc__)
    parser.add_argument("--cases", type=Case.parse, nargs="+", default=None)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--steps", type=positive_int, default=5, help="timed steps per round")
    parser.add_argument(
        "--count", type=positive_int, default=100, help="generated images (80%% train files)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, help="write the report here as well")
    args = parser.parse_args(argv)
    cases = args.cases or [Case.parse(text) for text in DEFAULT_CASES]
    configure_process(usable_cpus())
    with tempfile.TemporaryDirectory(prefix="ganime-hint-bench-") as cache:
        results = [
            measure(c, args.rounds, args.steps, args.set, Path(cache), args.count) for c in cases
        ]
    print(f"{'case':<10} {'encoder every step':>19} {'hints cached':>13} {'speedup':>8}")
    for r in results:
        print(f"{r.case:<10} {r.uncached_ms:>16.0f} ms {r.cached_ms:>10.0f} ms {r.speedup:>7.1f}x")
    print(
        "case = image size x base_filters x global batch; medians over rounds; precompute: "
        + ", ".join(f"{r.case} {r.precompute_seconds:.0f} s" for r in results)
    )
    if args.json:
        report = {
            "command": shlex.join(
                ["python", "-m", "bench.hint_cache", *(sys.argv[1:] if argv is None else argv)]
            ),
            "commit": git_commit(),
            "cpus": usable_cpus(),
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
