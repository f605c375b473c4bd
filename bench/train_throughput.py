"""Pix2Pix train-step throughput fed from memory vs from files, against the 0.95 target.

For each case (image size x global batch) one Pix2Pix model is built under the default strategy
and the training loop's own step function (`train.distributed_step`) is timed with two feeds:

  memory: one real batch taken from the input pipeline once, fed again at every step, so only the
          train step is timed;
  files:  the real input pipeline (`TrainingData.train_dataset`), so decoding, splitting, jitter,
          batching and prefetch compete with the step for the CPU. Where the training images fit
          in `data.decoded_cache_mb`, the pipeline decodes them once and later epochs crop and
          flip them from memory, as a real run's epochs after the first do; that one-time decode
          happens before timing and is reported as `decode once`. Whether they fit is decided
          as for the full Kaggle train split (14,224 files): at 64 px they do, at 256 px they do
          not, so the 256 px cases decode every step.

The feeds take turns in rounds, in the order memory-files, files-memory, memory-files, ..., so a
drift in machine speed during the case (other load, clock changes) falls on both feeds alike. Each
round of a feed starts with one untimed step: for files it waits for a fresh pipeline to start up,
which real training pays once per epoch, not once per step.

images/s = steps * batch / seconds, each step finished by reading its losses back as floats. The
target is files/memory >= 0.95: the input pipeline costs training at most 5%. The exit code is 0
whatever the figures; a missed target is printed.

    python -m bench.train_throughput                        # 256x1, 256x4, 64x32 on JPEG files
    python -m bench.train_throughput --cases 64x4 --data synthetic --json /tmp/bench.json
"""

from __future__ import annotations

import os

# Before TensorFlow is imported, or its C++ start-up chatter lands in the report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from PIL import Image

from bench.machine import git_commit, positive_int, usable_cpus
from ganime_core.config import (
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    DataConfig,
    ExperimentConfig,
    load_config,
)
from ganime_core.data.pipeline import TrainingData, jitter_size
from ganime_core.data.synth import val_count, write_synthetic_dataset
from ganime_core.families import build_family
from ganime_core.train import distributed_step, prepare

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "experiments" / "pix2pix_tv.yaml"
TARGET_RATIO = 0.95
DEFAULT_CASES = "256x1,256x4,64x32"
# Timed steps per feed. Run-to-run noise on a shared 2-core VM is several percent: with 12 steps a
# 256 px ratio ranged 0.92-1.07 over runs; 48 steps in 8 rounds settle it.
DEFAULT_STEPS = 48
FEEDS = ("memory", "files")
# The Kaggle "anime-sketch-colorization-pair" files: 1024x512 JPEG, colour | sketch at 512 a side.
KAGGLE_HALF_SIZE = 512
KAGGLE_JPEG_QUALITY = 95
# The Kaggle train split: whether its decoded images fit in memory decides, per case, whether the
# files feed decodes every step, as a run on the real data would (256 px: no; 64 px: yes).
KAGGLE_TRAIN_FILES = 14_224
DATA_SEED = 0

Batch = dict[str, tf.Tensor]
StepFunction = Callable[[Batch], dict[str, tf.Tensor]]


@dataclass(frozen=True)
class Case:
    """One measured configuration: square image side and global batch size."""

    image_size: int
    batch_size: int

    @property
    def label(self) -> str:
        return f"{self.image_size}x{self.batch_size}"


@dataclass(frozen=True)
class FeedTiming:
    """Timed steps of one feed (warm-up excluded)."""

    steps: int
    seconds: float
    images_per_second: float


@dataclass(frozen=True)
class CaseResult:
    case: Case
    warmup: int
    steps: int
    rounds: int
    decoded_in_memory: bool
    decode_seconds: float  # the one-time decode into memory, 0 when not cached
    steps_per_epoch: int  # of the files feed; > steps / rounds: no epoch boundary is timed
    memory: FeedTiming
    files: FeedTiming

    @property
    def ratio(self) -> float:
        """files / memory images per second."""
        return self.files.images_per_second / self.memory.images_per_second

    @property
    def passed(self) -> bool:
        return self.ratio >= TARGET_RATIO


# --- command line ---------------------------------------------------------------------------------


def parse_cases(text: str) -> list[Case]:
    """'256x1,64x32' -> [Case(256, 1), Case(64, 32)]."""
    cases = []
    for item in text.split(","):
        size_text, sep, batch_text = item.strip().lower().partition("x")
        try:
            size, batch = int(size_text), int(batch_text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad case {item!r}: expected SIZExBATCH, e.g. 64x4"
            ) from None
        if not sep or batch < 1:
            raise argparse.ArgumentTypeError(f"bad case {item!r}: expected SIZExBATCH, e.g. 64x4")
        if size < MIN_IMAGE_SIZE or size > MAX_IMAGE_SIZE or size & (size - 1):
            raise argparse.ArgumentTypeError(
                f"bad case {item!r}: size must be a power of two from {MIN_IMAGE_SIZE} to "
                f"{MAX_IMAGE_SIZE}"
            )
        cases.append(Case(size, batch))
    return cases


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.train_throughput",
        description="Pix2Pix train-step images/s fed from memory vs from files; target "
        f"files/memory >= {TARGET_RATIO}. Always exits 0.",
    )
    parser.add_argument(
        "--cases",
        type=parse_cases,
        default=parse_cases(DEFAULT_CASES),
        help=f"comma-separated SIZExBATCH (default {DEFAULT_CASES})",
    )
    parser.add_argument(
        "--data",
        choices=("synthetic", "kaggle-like"),
        default="kaggle-like",
        help="kaggle-like: 1024x512 JPEG q95 files like the Kaggle set (default); synthetic: the "
        "generated PNGs at the case's size, as the quickstart trains on",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help=f"timed steps per feed, split evenly over the rounds (default {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=3,
        help="untimed steps before the first round; the first traces the step (default 3)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=8,
        help="alternating rounds per feed (default 8); each round starts a fresh pipeline",
    )
    parser.add_argument(
        "--base-filters",
        type=positive_int,
        default=64,
        help="model.base_filters (default 64, the paper's width)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where generated data and scan results are kept, for reuse by later runs "
        "(default: a temporary folder removed at exit)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser


# --- data -----------------------------------------------------------------------------------------


def files_for_train_images(train_images: int) -> int:
    """Smallest data set size whose train split (the generator's 80%) holds `train_images`."""
    count = max(2, train_images)  # >= 2 so val gets at least one file
    while count - val_count(count) < train_images:
        count += 1
    return count


def kaggle_like_folder(work_dir: Path, train_images: int) -> Path:
    """A folder of Kaggle-like JPEGs with at least `train_images` train files, made on first use.

    File i is the same in every size of the data set, so any existing larger one is reused.
    """
    parent = work_dir / "kaggle-like"
    wanted = files_for_train_images(train_images)
    existing = sorted(
        (int(path.name[1:]), path)
        for path in parent.glob("n*")
        if path.name[1:].isdigit() and (path / "train").is_dir()
    )
    for count, path in existing:
        if count >= wanted:
            return path
    out = parent / f"n{wanted}"
    write_kaggle_like(out, wanted)
    return out


def write_kaggle_like(out: Path, count: int) -> None:
    """Render `count` synthetic pairs at 512 px a side and re-encode them as JPEG q95.

    Staged in temporary siblings and renamed into place, so an interrupted run leaves no half
    folder that a later run would reuse.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"generating {count} kaggle-like files in {out} (once; reused by runs with this dir)")
    pngs = Path(tempfile.mkdtemp(prefix=f"{out.name}.png-", dir=out.parent))
    jpegs = Path(tempfile.mkdtemp(prefix=f"{out.name}.jpg-", dir=out.parent))
    try:
        write_synthetic_dataset(pngs, count, KAGGLE_HALF_SIZE, DATA_SEED)
        for png in sorted(pngs.glob("*/*.png")):
            target = jpegs / png.parent.name / f"{png.stem}.jpg"
            target.parent.mkdir(exist_ok=True)
            with Image.open(png) as image:
                image.convert("RGB").save(target, "JPEG", quality=KAGGLE_JPEG_QUALITY)
        if not out.exists():
            jpegs.rename(out)
    finally:
        shutil.rmtree(pngs, ignore_errors=True)
        shutil.rmtree(jpegs, ignore_errors=True)


def case_config(
    case: Case, base_filters: int, work_dir: Path, kaggle_root: Path | None, train_images: int
) -> ExperimentConfig:
    """The paper's Pix2Pix+TV experiment resized to the case, reading kaggle_root if given, else
    generated PNGs at the case's size with at least `train_images` train files."""
    overrides = [
        f"data.image_size={case.image_size}",
        f"train.batch_size={case.batch_size}",
        f"model.base_filters={base_filters}",
        # JSON strings are YAML strings, so any path survives the override parser.
        f"data.cache_dir={json.dumps(str(work_dir / 'cache'))}",
    ]
    if not decoded_kaggle_split_fits(case.image_size):
        overrides.append("data.decoded_cache_mb=0")
    if kaggle_root is not None:
        overrides.append(f"data.path={json.dumps(str(kaggle_root))}")
    else:
        overrides.append(f"data.synthetic.count={files_for_train_images(train_images)}")
        overrides.append(f"data.synthetic.seed={DATA_SEED}")
    return load_config(EXPERIMENT, overrides)


def decoded_kaggle_split_fits(image_size: int) -> bool:
    """Would the full Kaggle train split, decoded for jitter, fit in the default memory cache?"""
    side = jitter_size(image_size)
    megabytes = KAGGLE_TRAIN_FILES * 2 * side * side * 3 / 2**20
    return megabytes <= DataConfig.model_fields["decoded_cache_mb"].default


# --- timing ---------------------------------------------------------------------------------------


def repeated_batch(data: TrainingData) -> Generator[Batch, None, None]:
    """The first batch of epoch 0, read once, then the same tensors forever."""
    batch = next(iter(data.train_dataset(0, tf.distribute.InputContext())))
    while True:
        yield batch


def file_batches(data: TrainingData, epoch: int) -> Iterator[Batch]:
    """The real input pipeline of `epoch`, as the training loop reads it."""
    return iter(data.train_dataset(epoch, tf.distribute.InputContext()))


def time_steps(step: StepFunction, batches: Iterator[Batch], steps: int) -> float:
    """Seconds for `steps` steps, each read back to force completion."""
    start = time.perf_counter()
    for _ in range(steps):
        finish(step(next(batches)))
    return time.perf_counter() - start


def finish(losses: dict[str, tf.Tensor]) -> dict[str, float]:
    """Wait for a step by copying its losses to Python floats."""
    return {name: float(value) for name, value in losses.items()}


def round_orders(rounds: int) -> list[tuple[str, str]]:
    """memory-files, files-memory, ...: a linear drift in speed cancels out over two rounds."""
    return [FEEDS if r % 2 == 0 else FEEDS[::-1] for r in range(rounds)]


def run_case(
    case: Case, config: ExperimentConfig, warmup: int, steps: int, rounds: int
) -> CaseResult:
    """Both feeds of one case on one model, in alternating rounds of steps // rounds steps."""
    keras.backend.clear_session()  # drop earlier cases' models before building a new one
    prepare(config)
    data = TrainingData(config)
    start = time.perf_counter()
    data.train_dataset(0)  # decodes the training images into memory here, if they fit
    decode_seconds = time.perf_counter() - start
    in_memory = any(decoded is not None for decoded in data._decoded.values())
    progress(
        f"{case.label}: "
        + (
            f"training images decoded once into memory in {decode_seconds:.1f} s"
            if in_memory
            else "training images decoded from files at every step (over data.decoded_cache_mb)"
        )
    )
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        family = build_family(config)
    step = distributed_step(family, strategy)
    memory = repeated_batch(data)
    progress(f"{case.label}: {warmup} warm-up steps (the first traces the step)")
    for _ in range(warmup):
        finish(step(next(memory)))

    per_round = steps // rounds
    seconds = dict.fromkeys(FEEDS, 0.0)
    for number, order in enumerate(round_orders(rounds)):
        progress(f"{case.label}: round {number + 1}/{rounds}, {' then '.join(order)}")
        for feed in order:
            # A fresh pipeline per round, closed after it: a live iterator's prefetch threads
            # would otherwise fill their buffer during the memory round, taking CPU from it.
            batches = memory if feed == "memory" else file_batches(data, number)
            finish(step(next(batches)))
            seconds[feed] += time_steps(step, batches, per_round)
            del batches
    timed = per_round * rounds
    timings = {
        feed: FeedTiming(timed, seconds[feed], timed * case.batch_size / seconds[feed])
        for feed in FEEDS
    }
    return CaseResult(
        case,
        warmup,
        timed,
        rounds,
        in_memory,
        decode_seconds if in_memory else 0.0,
        data.steps_per_epoch,
        timings["memory"],
        timings["files"],
    )


# --- report ---------------------------------------------------------------------------------------


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def describe_data(kind: str, kaggle_root: Path | None) -> str:
    if kaggle_root is not None:
        train = len(list((kaggle_root / "train").glob("*.jpg")))
        val = len(list((kaggle_root / "val").glob("*.jpg")))
        return (
            f"kaggle-like: {2 * KAGGLE_HALF_SIZE}x{KAGGLE_HALF_SIZE} JPEG q{KAGGLE_JPEG_QUALITY}, "
            f"{train} train + {val} val files in {kaggle_root}"
        )
    return f"{kind}: generated PNGs at each case's size (colour | sketch, 2*size x size)"


def environment(
    args: argparse.Namespace, argv: list[str], kaggle_root: Path | None
) -> dict[str, object]:
    """What is needed to reproduce the figures."""
    return {
        "command": shlex.join([sys.executable, "-m", "bench.train_throughput", *argv]),
        "commit": git_commit(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "data": args.data,
        "data_description": describe_data(args.data, kaggle_root),
        "experiment": str(EXPERIMENT.relative_to(REPO)),
        "base_filters": args.base_filters,
        "feed_order": f"per case, one model: {args.rounds} alternating rounds "
        + ", ".join("-".join(order) for order in round_orders(min(args.rounds, 2))),
        "target_ratio": TARGET_RATIO,
    }


def header_lines(env: dict[str, object]) -> list[str]:
    return [
        f"command:      {env['command']}",
        f"commit:       {env['commit']}",
        f"tensorflow:   {env['tensorflow']} (keras {env['keras']})",
        f"cpus:         {env['cpu_count']} ({env['usable_cpus']} usable by this process)",
        f"data:         {env['data_description']}",
        f"model:        pix2pix, {env['experiment']}, base_filters {env['base_filters']}",
        f"feed order:   {env['feed_order']}",
        f"target:       files/memory images/s >= {env['target_ratio']}",
    ]


def table_lines(results: list[CaseResult]) -> list[str]:
    row = "{:<8} {:<7} {:>6} {:>7} {:>10} {:>13}  {:<6}  {}"
    lines = [
        row.format(
            "case", "feed", "warmup", "steps", "images/s", "files/memory", "target", "decode once"
        )
    ]
    for result in results:
        for feed in FEEDS:
            timing: FeedTiming = getattr(result, feed)
            is_files = feed == "files"
            lines.append(
                row.format(
                    result.case.label,
                    feed,
                    result.warmup,
                    timing.steps,
                    f"{timing.images_per_second:.2f}",
                    f"{result.ratio:.3f}" if is_files else "",
                    ("pass" if result.passed else "FAIL") if is_files else "",
                    decode_note(result) if is_files else "",
                ).rstrip()
            )
    return lines


def decode_note(result: CaseResult) -> str:
    if result.decoded_in_memory:
        return f"{result.decode_seconds:.1f} s, then from memory"
    return "no: every step decodes"


def verdict_lines(results: list[CaseResult]) -> list[str]:
    missed = [r for r in results if not r.passed]
    if not missed:
        return [f"all {len(results)} case(s) meet the target (files/memory >= {TARGET_RATIO})"]
    return [
        f"TARGET MISSED: {r.case.label} files/memory = {r.ratio:.3f} < {TARGET_RATIO}"
        for r in missed
    ]


def result_json(result: CaseResult) -> dict[str, object]:
    def feed(timing: FeedTiming) -> dict[str, float]:
        return {
            "steps": timing.steps,
            "seconds": timing.seconds,
            "images_per_second": timing.images_per_second,
        }

    return {
        "case": result.case.label,
        "image_size": result.case.image_size,
        "batch_size": result.case.batch_size,
        "warmup": result.warmup,
        "steps": result.steps,
        "rounds": result.rounds,
        "decoded_in_memory": result.decoded_in_memory,
        "decode_seconds": result.decode_seconds,
        "steps_per_epoch": result.steps_per_epoch,
        "memory": feed(result.memory),
        "files": feed(result.files),
        "ratio": result.ratio,
        "passed": result.passed,
    }


# --- main -----------------------------------------------------------------------------------------


def train_images_needed(case: Case, steps_per_round: int) -> int:
    """Train files for one epoch to cover a files round (one untimed and the timed batches), so
    no epoch boundary (a pipeline restart that real, much longer epochs rarely see) is timed."""
    return (1 + steps_per_round) * case.batch_size


def run(args: argparse.Namespace, argv: list[str], work_dir: Path) -> None:
    steps_of = {case: args.steps or DEFAULT_STEPS for case in args.cases}
    if min(steps_of.values()) < args.rounds:
        raise SystemExit(f"--steps must be at least --rounds ({args.rounds})")
    needed = {case: train_images_needed(case, steps_of[case] // args.rounds) for case in args.cases}
    kaggle_root = (
        kaggle_like_folder(work_dir, max(needed.values())) if args.data == "kaggle-like" else None
    )
    env = environment(args, argv, kaggle_root)
    print("\n".join(header_lines(env)), flush=True)

    results = []
    for case in args.cases:
        config = case_config(case, args.base_filters, work_dir, kaggle_root, needed[case])
        results.append(run_case(case, config, args.warmup, steps_of[case], args.rounds))

    print()
    print("\n".join(table_lines(results)))
    print()
    print("\n".join(verdict_lines(results)), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {**env, "results": [result_json(r) for r in results]}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        run(args, argv, args.work_dir.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="ganime-bench-") as work_dir:
            run(args, argv, Path(work_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
