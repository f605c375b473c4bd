"""How fast a train step runs on this process's device, and how much of the device it uses:
what `ganime gpu-check` measures.

The step is the train loop's own (`train.distributed_step`) on random batches already in
memory, so the device alone is timed, not the input pipeline. Each case builds its family afresh
under its precision, runs `warmup` untimed steps (tracing, XLA compilation, autotuning), then
`steps` timed ones, each finished by reading its losses back. Model-FLOPs utilization is the
step's FLOPs (flops.py) per second over the device's peak for the precision used.
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from ganime_core.config import ExperimentConfig
from ganime_core.families import build_family
from ganime_core.flops import train_step_flops
from ganime_core.precision import compute_dtype
from ganime_core.train import distributed_step

# Dense peak TFLOPS per GPU by the arithmetic a precision runs on: "float32" is plain FP32,
# "tf32" the tensor cores' TF32 (what TensorFlow runs float32 convolutions in on Ampere and
# later, unless disabled), "bfloat16"/"float16" the tensor cores' half types. NVIDIA's
# datasheets (sparse figures halved); the A10G's tensor figures are from AWS's variant as
# compared by Baseten (NVIDIA publishes no A10G datasheet). Matched against the device name
# TensorFlow reports, first match wins (A100 before A10, A10G before A10).
GPU_PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100", {"float32": 67.0, "tf32": 494.5, "bfloat16": 989.5, "float16": 989.5}),
    ("A100", {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0, "float16": 312.0}),
    ("A10G", {"float32": 31.2, "tf32": 35.0, "bfloat16": 70.0, "float16": 70.0}),
    ("A10", {"float32": 31.2, "tf32": 62.5, "bfloat16": 125.0, "float16": 125.0}),
    ("L4", {"float32": 30.3, "tf32": 60.0, "bfloat16": 121.0, "float16": 121.0}),
    ("V100", {"float32": 15.7, "float16": 125.0}),
    ("T4", {"float32": 8.1, "float16": 65.0}),
)


@dataclass(frozen=True)
class Device:
    """The device a step runs on, and its peak dense TFLOPS by arithmetic (empty: unknown)."""

    kind: str  # GPU or CPU
    name: str
    peak_tflops: dict[str, float]
    peak_source: str  # where the peak figures come from

    def peak(self, precision: str) -> float | None:
        """The peak for `precision`'s compute dtype: float32 runs as TF32 on a GPU whose tensor
        cores have it while TensorFlow's TF32 switch is on (its default)."""
        dtype = compute_dtype(precision)
        if (
            dtype == "float32"
            and "tf32" in self.peak_tflops
            and tf.config.experimental.tensor_float_32_execution_enabled()
        ):
            dtype = "tf32"
        return self.peak_tflops.get(dtype)


@dataclass(frozen=True)
class StepSpeed:
    """One case's measurement."""

    family: str
    precision: str
    jit_compile: bool
    image_size: int
    batch_size: int
    steps: int  # timed
    seconds: float  # of the timed steps
    images_per_second: float
    step_gflops: float  # model FLOPs of one step (flops.train_step_flops)
    achieved_tflops: float
    mfu: float | None  # achieved over the device's peak for the precision; None: unknown peak
    peak_memory_mb: float | None  # the GPU's peak allocation during the case; None on a CPU

    def row(self) -> dict[str, Any]:
        return asdict(self)


def visible_devices() -> list[str]:
    """Every physical device TensorFlow sees, with a GPU's name and compute capability."""
    lines = []
    for device in tf.config.list_physical_devices():
        line = f"{device.device_type}: {device.name}"
        if device.device_type == "GPU":
            details = tf.config.experimental.get_device_details(device)
            line += f" ({details.get('device_name', '?')}, compute capability "
            line += f"{'.'.join(map(str, details.get('compute_capability', ('?',))))})"
        lines.append(line)
    return lines


def this_device(peak_tflops: float | None = None) -> Device:
    """The device steps run on (the first GPU, else the CPU) and its peaks; `peak_tflops`
    overrides the peak for every precision (a GPU not in the table, a known CPU figure)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        kind, peaks, source = "GPU", {}, "not in GANime's table; pass --peak-tflops"
        for model, figures in GPU_PEAK_TFLOPS:
            if model in name:
                peaks, source = figures, "vendor datasheet (ganime_core/step_speed.py)"
                break
    else:
        kind, name = "CPU", _cpu_name()
        peaks, source = _cpu_peak_tflops()
    if peak_tflops is not None:
        peaks = dict.fromkeys(("float32", "tf32", "bfloat16", "float16"), peak_tflops)
        source = "--peak-tflops"
    return Device(kind, name, peaks, source)


def measure_step(
    config: ExperimentConfig, device: Device, steps: int, warmup: int = 1
) -> StepSpeed:
    """Time `steps` train steps of `config` (its family, image size, global batch, precision
    and jit_compile) after `warmup` untimed ones, on this process's default device."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    strategy = tf.distribute.get_strategy()
    family = build_family(config)
    step = distributed_step(family, strategy, config.train.jit_compile)
    batch = _random_batch(config, with_reference=config.model.training_reference is not None)
    gpu = device.kind == "GPU"
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    for _ in range(warmup):
        _finish(step(batch))
    started = time.perf_counter()
    for _ in range(steps):
        _finish(step(batch))
    seconds = time.perf_counter() - started
    flops = train_step_flops(family, config.train.batch_size)
    achieved = flops * steps / seconds / 1e12
    peak = device.peak(config.train.precision)
    return StepSpeed(
        family=config.model.family,
        precision=config.train.precision,
        jit_compile=config.train.jit_compile,
        image_size=config.data.image_size,
        batch_size=config.train.batch_size,
        steps=steps,
        seconds=seconds,
        images_per_second=steps * config.train.batch_size / seconds,
        step_gflops=flops / 1e9,
        achieved_tflops=achieved,
        mfu=achieved / peak if peak else None,
        peak_memory_mb=_peak_memory_mb("GPU:0") if gpu else None,
    )


def _random_batch(config: ExperimentConfig, with_reference: bool) -> dict[str, tf.Tensor]:
    """One global batch in [-1, 1], as the input pipeline gives it."""
    size, batch = config.data.image_size, config.train.batch_size
    keys = ("sketch", "color", "reference") if with_reference else ("sketch", "color")
    generator = tf.random.Generator.from_seed(config.seed)
    return {key: generator.uniform((batch, size, size, 3), -1.0, 1.0) for key in keys}


def _finish(losses: dict[str, tf.Tensor]) -> None:
    for value in losses.values():
        float(value)  # waits for the step, as the train loop does


def _peak_memory_mb(device: str) -> float | None:
    """The GPU's peak allocation since the reset. (TensorFlow 2.21 answers for its CPU
    allocator too, undocumented, and there the peak is not reset between cases: n/a.)"""
    try:
        peak = tf.config.experimental.get_memory_info(device)["peak"]
    except (ValueError, tf.errors.OpError):
        return None
    return peak / 2**20


def _cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else "CPU"


def _cpu_peak_tflops() -> tuple[dict[str, float], str]:
    """An estimate, labelled as one: cores x clock x FLOPs per cycle per core for the widest
    fused multiply-add the CPU has (AVX-512: 2 units x 16 float32 lanes x 2; AVX2: 2 x 8 x 2;
    AMD's Zen 4, CPU family 25, runs AVX-512 on 256-bit units: as AVX2), bfloat16 twice float32
    where AVX512_BF16 has a dot-product instruction for it."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}, "unknown CPU; pass --peak-tflops"
    flags = set(re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE).group(1).split())
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)$", text, re.MULTILINE)]
    if not mhz:
        return {}, "no clock in /proc/cpuinfo; pass --peak-tflops"
    cores = len(os.sched_getaffinity(0))
    family = re.search(r"^cpu family\s*:\s*(\d+)$", text, re.MULTILINE)
    zen4 = "AuthenticAMD" in text and family is not None and family.group(1) == "25"
    lanes = 16 if "avx512f" in flags and not zen4 else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * 2 if "fma" in flags or "avx512f" in flags else lanes * 2
    ghz = max(mhz) / 1000
    float32 = cores * ghz * per_cycle / 1000
    peaks = {"float32": float32}
    if "avx512_bf16" in flags:
        peaks["bfloat16"] = 2 * float32
    source = (
        f"estimate: {cores} cores x {ghz:.2f} GHz x {per_cycle} float32 FLOPs/cycle "
        f"({'AVX-512' if lanes == 16 else '256-bit' if lanes == 8 else 'SSE'} FMA)"
    )
    return peaks, source
