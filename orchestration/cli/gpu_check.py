"""`ganime gpu-check`: which devices TensorFlow sees, and how fast this node trains.

For Pix2Pix and CycleGAN at the paper's sizes (their experiment files, 64 base filters; 256 px,
batch 32), each precision with and without XLA: the train step's images/s and model-FLOPs
utilization after a warm-up, and the GPU's peak memory. One table, and the same rows as JSON.
On a GPU node it is the number to check before paying for a sweep; on a CPU it runs Pix2Pix
small (64 px, batch 8) in about a minute.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import get_args

from ganime_core.config import Precision, load_config
from ganime_core.errors import GanimeError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FAMILY_EXPERIMENTS = {"pix2pix": "pix2pix.yaml", "cyclegan": "cyclegan.yaml"}
PRECISIONS = get_args(Precision)  # config.py owns the names
# (families, image size, global batch, timed steps, warm-up steps) where nothing is given: on a
# CPU, Pix2Pix alone and small, so that the check takes a minute.
GPU_DEFAULTS = ("pix2pix,cyclegan", 256, 32, 20, 3)
CPU_DEFAULTS = ("pix2pix", 64, 8, 2, 1)


def register(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "gpu-check",
        help="the devices TensorFlow sees and each precision's train-step speed and MFU",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--families", help="comma-separated (default: pix2pix,cyclegan on a GPU, pix2pix on CPU)"
    )
    check.add_argument(
        "--precisions",
        default="float32,mixed_bfloat16",
        help=f"comma-separated, of {', '.join(PRECISIONS)}",
    )
    check.add_argument(
        "--xla", choices=("both", "on", "off"), default="both", help="train.jit_compile"
    )
    check.add_argument("--size", type=int, help="image size (default: 256 on a GPU, 64 on CPU)")
    check.add_argument("--batch", type=int, help="global batch (default: 32 on a GPU, 8 on CPU)")
    check.add_argument("--steps", type=int, help="timed steps (default: 20 on a GPU, 2 on CPU)")
    check.add_argument("--warmup", type=int, help="untimed steps first (default: 3 / 1)")
    check.add_argument(
        "--peak-tflops", type=float, help="the device's peak, for a device GANime does not know"
    )
    check.add_argument("--json", type=Path, help="also write the rows here")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.families is not None:
        _choices(args.families, FAMILY_EXPERIMENTS, "--families")
    precisions = _choices(args.precisions, PRECISIONS, "--precisions")
    xla = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    # Imported once the arguments are valid: TensorFlow.
    from ganime_core.step_speed import measure_step, this_device, visible_devices

    device = this_device(args.peak_tflops)
    families, size, batch, steps, warmup = GPU_DEFAULTS if device.kind == "GPU" else CPU_DEFAULTS
    families = _choices(args.families or families, FAMILY_EXPERIMENTS, "--families")
    size, batch = args.size or size, args.batch or batch
    steps, warmup = args.steps or steps, args.warmup if args.warmup is not None else warmup
    print("devices TensorFlow sees:")
    for line in visible_devices():
        print(f"  {line}")
    print(f"measuring on: {device.kind} {device.name}")
    print(f"peak: {_peaks(device)} ({device.peak_source})")
    print(f"{size} px, batch {batch}, {steps} timed steps after {warmup} warm-up")
    rows = []
    print(_header())
    for family in families:
        for precision in precisions:
            for jit in xla:
                config = load_config(
                    EXPERIMENTS / FAMILY_EXPERIMENTS[family],
                    [
                        f"data.image_size={size}",
                        f"train.batch_size={batch}",
                        f"train.precision={precision}",
                        f"train.jit_compile={str(jit).lower()}",
                    ],
                )
                speed = measure_step(config, device, steps, warmup)
                rows.append(speed.row())
                print(_line(speed), flush=True)
    if args.json:
        report = {"device": device.name, "kind": device.kind, "peak_source": device.peak_source}
        args.json.write_text(json.dumps({**report, "rows": rows}, indent=2))
        print(f"written: {args.json}")
    return 0


def _choices(text: str, known, option: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise GanimeError(f"{option}: choose from {', '.join(known)} (got {text!r})")
    return chosen


def _peaks(device) -> str:
    if not device.peak_tflops:
        return "unknown"
    return ", ".join(f"{kind} {value:g} TFLOPS" for kind, value in device.peak_tflops.items())


def _header() -> str:
    return (
        f"{'family':<9} {'precision':<15} {'XLA':<4} {'images/s':>9} {'step GFLOP':>10} "
        f"{'TFLOPS':>7} {'MFU':>6} {'peak MB':>8}"
    )


def _line(speed) -> str:
    mfu = f"{speed.mfu:.1%}" if speed.mfu is not None else "n/a"
    memory = f"{speed.peak_memory_mb:.0f}" if speed.peak_memory_mb is not None else "n/a"
    return (
        f"{speed.family:<9} {speed.precision:<15} {'on' if speed.jit_compile else 'off':<4} "
        f"{speed.images_per_second:>9.1f} {speed.step_gflops:>10.1f} "
        f"{speed.achieved_tflops:>7.3f} {mfu:>6} {memory:>8}"
    )
