"""`ganime gpu-check` on this CPU, its FLOP count against TensorFlow's profiler, and the
collective each kind of worker all-reduces with."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from ganime_core.flops import forward_flops, train_step_flops
from ganime_core.networks import patchgan_discriminator, unet_generator
from orchestration.cli import main


def profiled_flops(model, inputs: list[tuple[int, ...]]) -> int:
    """TensorFlow's own count (the profiler's registered FLOP statistics) of one forward pass
    of `model` at batch 1."""
    specs = [tf.TensorSpec((1, *shape), tf.float32) for shape in inputs]
    call = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    graph = call.get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


@pytest.mark.parametrize(
    "name, build, inputs",
    [
        ("U-Net", lambda: unet_generator(256, 64), [(256, 256, 3)]),
        ("PatchGAN", lambda: patchgan_discriminator(256, 64), [(256, 256, 3)] * 2),
    ],
)
def test_the_flop_count_of_the_papers_networks_matches_tensorflows_profiler(
    name, build, inputs
) -> None:
    model = build()
    counted, profiled = forward_flops(model), profiled_flops(model, inputs)
    assert counted == pytest.approx(profiled, rel=0.05), (name, counted, profiled)


def test_a_train_step_counts_three_forward_passes_of_each_trained_network() -> None:
    from ganime_core.config import load_config
    from ganime_core.families import build_family
    from tests.support.paths import EXPERIMENTS

    config = load_config(EXPERIMENTS / "smoke.yaml", ["model.base_filters=4"])
    family = build_family(config)
    generator, discriminator = forward_flops(family.generator), forward_flops(family.discriminator)
    assert train_step_flops(family, 8) == 8 * 3 * (generator + 2 * discriminator)


@pytest.mark.slow
def test_gpu_check_on_this_cpu_prints_the_table_and_writes_its_rows(tmp_path, capsys) -> None:
    report = tmp_path / "gpu-check.json"
    # One precision, with and without XLA (each precision trains in test_precision.py).
    argv = ["gpu-check", "--families", "pix2pix", "--precisions", "mixed_bfloat16"]
    argv += ["--xla", "both", "--size", "32", "--batch", "2"]
    argv += ["--steps", "2", "--warmup", "1", "--json", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "devices TensorFlow sees:" in out and "CPU: /physical_device:CPU:0" in out
    assert "measuring on: CPU" in out
    rows = json.loads(report.read_text())["rows"]
    cases = [(row["precision"], row["jit_compile"]) for row in rows]
    assert cases == [("mixed_bfloat16", False), ("mixed_bfloat16", True)]
    for row in rows:
        assert row["images_per_second"] > 0 and row["steps"] == 2
        assert row["step_gflops"] > 0 and row["achieved_tflops"] > 0
    table = [line for line in out.splitlines() if line.startswith("pix2pix ")]
    assert len(table) == 2


def test_gpu_check_refuses_an_unknown_family_in_one_line(capsys) -> None:
    assert main(["gpu-check", "--families", "pix2pix,nst"]) == 2
    assert "--families: choose from pix2pix, cyclegan" in capsys.readouterr().err


def test_gpu_workers_all_reduce_with_nccl_and_cpu_workers_with_ring() -> None:
    from orchestration.training.ray_train import communication_options

    implementation = tf.distribute.experimental.CommunicationImplementation
    assert communication_options(1).implementation == implementation.NCCL
    assert communication_options(0).implementation == implementation.RING
    assert communication_options(0).bytes_per_pack == 64 * 1024 * 1024
