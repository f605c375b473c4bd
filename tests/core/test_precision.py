"""Mixed precision and XLA on CPU: every precision trains with finite, falling losses; the
mixed policies keep float32 variables and losses; float16 scales its loss and skips an
overflowing step; checkpoints resume across precisions; XLA-compiled steps agree with plain
ones; an op XLA cannot compile stops a run before it trains; served models compute in
float32."""

from __future__ import annotations

import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ganime_core.checkpoint import LOSS_SCALE, Checkpointer
from ganime_core.config import load_config
from ganime_core.families import build_family
from ganime_core.families.pix2pix import Pix2Pix
from ganime_core.precision import float32_model
from ganime_core.train import TrainingRun, XlaUnsupportedError, distributed_step
from tests.support.paths import EXPERIMENTS
from tests.support.processes import run_on_two_cpus
from tests.support.tolerances import UBF16, AdamRun, forward_rtol

MIXED = ("mixed_bfloat16", "mixed_float16")
# A loss that falls within 10 steps on one fixed batch, and the learning rate it falls at:
# Pix2Pix's L1; CycleGAN's generators move slowly (its cycle loss by under 1%), its
# discriminators fast (at 2e-3 they overshoot and oscillate; at 2e-4 they fall steadily).
FALLING = {"pix2pix": ("gen_l1", 2e-3), "cyclegan": ("disc_y", 2e-4)}


@pytest.fixture
def small(tmp_path: Path, cache_dir: Path):
    """Pix2Pix (smoke.yaml) or CycleGAN (cyclegan.yaml) at 32 px with 8 base filters."""

    def load(family: str, *overrides: str):
        path = EXPERIMENTS / ("smoke.yaml" if family == "pix2pix" else "cyclegan.yaml")
        settings = [
            "data.image_size=32",
            "data.synthetic.count=40",
            "model.base_filters=8",
            "model.dropout=0",
            "train.batch_size=4",
            "train.eval_every=0",
            f"train.output_dir={tmp_path / 'runs'}",
            *overrides,
        ]
        return load_config(path, settings)

    return load


def fixed_batch(n: int = 4, size: int = 32, seed: int = 0) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(seed)
    sketch = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
    return {"sketch": tf.constant(sketch), "color": tf.constant(np.tanh(2 * sketch[..., ::-1]))}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
@pytest.mark.parametrize("precision", ["float32", *MIXED])
def test_each_precision_trains_with_finite_falling_losses(small, family, precision) -> None:
    loss, rate = FALLING[family]
    config = small(family, f"train.precision={precision}", f"optimizer.learning_rate={rate}")
    keras.utils.set_random_seed(0)  # the same initial weights whatever ran before
    trained = build_family(config)
    step = distributed_step(trained, tf.distribute.get_strategy())
    batch = fixed_batch()
    history = [{k: float(v) for k, v in step(batch).items()} for _ in range(10)]
    assert all(np.isfinite(list(losses.values())).all() for losses in history), history
    falling = [losses[loss] for losses in history]
    # float16's first steps may overflow at the initial scale and be skipped (the scale halves)
    assert falling[-1] < 0.95 * falling[0], falling


@pytest.mark.parametrize("precision", MIXED)
def test_mixed_policies_keep_float32_variables_and_compute_losses_in_float32(
    small, precision
) -> None:
    half = precision.removeprefix("mixed_")
    for family_name in ("pix2pix", "cyclegan"):
        family = build_family(small(family_name, f"train.precision={precision}"))
        for name, network in family.networks().items():
            assert {v.dtype for v in network.variables} == {"float32"}, name
            convs = [
                layer
                for layer in network._flatten_layers()
                if isinstance(layer, keras.layers.Conv2D)
            ]
            assert {layer.compute_dtype for layer in convs} == {half}, name
            assert network.outputs[0].dtype == "float32", name  # the float32 last layer
        losses = family.train_step(fixed_batch())
        assert {value.dtype for value in losses.values()} == {tf.float32}
        assert {v.dtype for v in family.optimizers()["generator_optimizer"].variables} <= {
            "float32",
            "int64",
        }
    # Nothing outside the family was built in the half type: the policy was put back.
    assert keras.config.dtype_policy().name == "float32"


def test_float16_scales_the_loss_and_skips_a_step_that_overflows(small) -> None:
    family = build_family(small("pix2pix", "train.precision=mixed_float16"))
    scale = family.updaters["generator"]
    assert isinstance(scale, keras.optimizers.LossScaleOptimizer)
    assert float(scale.scale_loss(tf.constant(1.0))) == 2.0**15
    assert len(family.loss_scale_variables()) == 4  # each network's scale and good-step count

    family.train_step(fixed_batch())  # a good step: the scale stays, the weights move
    before = [v.numpy() for v in family.generator.trainable_variables]
    assert float(scale.dynamic_scale) == 2.0**15

    bad = fixed_batch()
    bad["color"] = tf.fill(tf.shape(bad["color"]), float("inf"))
    family.train_step(bad)  # non-finite gradients: skipped, the scale halved
    assert float(scale.dynamic_scale) == 2.0**14
    for kept, weight in zip(before, family.generator.trainable_variables, strict=True):
        np.testing.assert_array_equal(kept, weight.numpy())  # (BatchNorm's statistics move)


def test_only_float16_wraps_its_optimizers_in_loss_scaling(small) -> None:
    for precision in ("float32", "mixed_bfloat16"):
        family = build_family(small("pix2pix", f"train.precision={precision}"))
        assert family.loss_scale_variables() == []
        assert not any(
            isinstance(u, keras.optimizers.LossScaleOptimizer) for u in family.updaters.values()
        )


def test_a_checkpoint_resumes_under_another_precision(small, tmp_path) -> None:
    """float32 -> mixed_float16 -> mixed_bfloat16 -> mixed_float16: the weights and Adam slots
    carry over every time; the loss scale is kept by float16 checkpoints and read back by a
    float16 run only (others ignore it; a float16 run without one starts at 2^15)."""
    folder = tmp_path / "checkpoints"

    def trained(precision: str, restore: Path | None, epoch: int):
        config = small("pix2pix", f"train.precision={precision}")
        family = build_family(config)
        checkpointer = Checkpointer(folder, family, config, keep=5)
        if restore is not None:
            assert checkpointer.restore(restore).epochs_completed == epoch - 1
        restored = [w.copy() for w in family.generator.get_weights()]
        family.train_step(fixed_batch(seed=epoch))
        return family, restored, checkpointer.save(epoch)

    first, _, saved1 = trained("float32", None, 1)
    float16, restored, saved2 = trained("mixed_float16", saved1, 2)
    for a, b in zip(first.generator.get_weights(), restored, strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(float16.updaters["generator"].dynamic_scale) == 2.0**15  # none to read
    assert (saved2 / f"{LOSS_SCALE}.index").is_file()
    assert not (saved1 / f"{LOSS_SCALE}.index").exists()
    float16.updaters["generator"].dynamic_scale.assign(1024.0)  # as if it had settled there
    saved2 = Checkpointer(folder, float16, float16.config, keep=5).save(2)

    bfloat16, restored, saved3 = trained("mixed_bfloat16", saved2, 3)
    for a, b in zip(float16.generator.get_weights(), restored, strict=True):
        np.testing.assert_array_equal(a, b)
    # Adam's step count came along too: one step per run so far.
    assert int(bfloat16.optimizers()["generator_optimizer"].iterations) == 3

    config = small("pix2pix", "train.precision=mixed_float16")
    again = build_family(config)
    Checkpointer(folder, again, config, keep=5).restore(saved2)
    assert float(again.updaters["generator"].dynamic_scale) == 1024.0


@pytest.mark.slow
def test_xla_and_plain_steps_agree_from_the_same_weights(small) -> None:
    strategy = tf.distribute.get_strategy()
    results = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        family = build_family(small("pix2pix", "model.norm=instance"))
        step = distributed_step(family, strategy, jit_compile=jit)
        losses = [{k: float(v) for k, v in step(fixed_batch(seed=s)).items()} for s in range(3)]
        results[jit] = losses, family.generator.get_weights()
    (plain_losses, plain_weights), (xla_losses, xla_weights) = results[False], results[True]
    # XLA fuses the same sums in another order (tests/support/tolerances.py). The first step's
    # losses come from equal weights: one forward pass of G then D, nonnegative means. The later
    # steps' losses follow from the weights, which are compared after the 3 steps.
    kernels = [w for net in family.networks().values() for w in net.weights if w.ndim == 4]
    fan_in = max(int(np.prod(k.shape[:-1])) for k in kernels)  # 4 x 4 x 64 here
    rtol = forward_rtol(depth=len(kernels), fan_in=fan_in)  # 15 layers: 9.2e-4
    for name in plain_losses[0]:
        assert xla_losses[0][name] == pytest.approx(plain_losses[0][name], rel=rtol), name
    run = AdamRun.of(family.config.optimizer, steps=3, terms=4 * 32 * 32)  # batch x pixels
    for index, (plain, xla) in enumerate(zip(plain_weights, xla_weights, strict=True)):
        run.assert_alike(xla, plain, name=f"generator weight {index}")


def test_an_op_xla_cannot_compile_stops_the_run_before_it_trains(small, monkeypatch) -> None:
    original = Pix2Pix.losses

    def with_python_op(self, batch):
        losses = original(self, batch)
        noted = tf.py_function(lambda x: x, [losses["gen_l1"]], tf.float32)  # not XLA-able
        return {**losses, "gen_l1": tf.reshape(noted, [])}

    monkeypatch.setattr(Pix2Pix, "losses", with_python_op)
    config = small("pix2pix", "train.jit_compile=true")
    with pytest.raises(XlaUnsupportedError) as raised:
        TrainingRun(config, progress=False)
    message = str(raised.value)
    assert "\n" not in message and "EagerPyFunc" in message, message
    assert "train.jit_compile=false" in message
    assert not (config.run_dir / "checkpoints").exists()  # stopped before any epoch


@pytest.mark.slow
def test_a_run_trains_with_xla_and_mixed_precision_end_to_end(small) -> None:
    config = small(
        "pix2pix",
        "train.jit_compile=true",
        "train.precision=mixed_bfloat16",
        "train.epochs=1",
        "data.synthetic.count=20",  # 16 train images: 4 steps
    )
    report = TrainingRun(config, progress=False).run_epoch()
    assert np.isfinite(list(report.losses.values())).all()
    assert report.checkpoint is not None and report.sample_grid.is_file()


def test_what_is_logged_and_served_computes_in_float32(small) -> None:
    family = build_family(small("pix2pix", "train.precision=mixed_bfloat16"))
    generator = family.generator
    served = float32_model(generator)
    assert {layer.dtype_policy.name for layer in served._flatten_layers()} == {"float32"}
    for a, b in zip(generator.get_weights(), served.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    sketch = fixed_batch()["sketch"]
    # bfloat16 rounds both operands of every product (float32 sums them): per layer 2 x 2^-8
    # relative, over the generator's convolutions, on tanh outputs of scale 1.
    kernels = [w for w in generator.weights if w.ndim == 4]
    fan_in = max(int(np.prod(k.shape[:-1])) for k in kernels)
    atol = forward_rtol(depth=len(kernels), fan_in=fan_in, rounding=2 * UBF16)  # 10: 0.079
    np.testing.assert_allclose(
        served(sketch, training=False), generator(sketch, training=False), atol=atol
    )
    assert float32_model(served) is served  # already float32: nothing to copy


SKIP_TOGETHER = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np
    import tensorflow as tf

    from ganime_core.config import load_config
    from ganime_core.families import build_family
    from ganime_core.train import distributed_step

    config = load_config(sys.argv[1], sys.argv[2:])
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        family = build_family(config)
    step = distributed_step(family, strategy)
    rng = np.random.default_rng(0)

    def batch(overflow_on: int | None):
        def per_replica(context):
            sketch = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
            color = np.tanh(sketch)
            if context.replica_id_in_sync_group == overflow_on:
                color = np.full_like(color, np.inf)
            return {"sketch": tf.constant(sketch), "color": tf.constant(color)}

        return strategy.experimental_distribute_values_from_function(per_replica)

    step(batch(None))
    before = [v.numpy() for v in family.generator.trainable_variables]
    scale = family.updaters["generator"].dynamic_scale
    scales_before = [float(v) for v in strategy.experimental_local_results(scale.value)]
    step(batch(1))  # only the second replica overflows
    after = [v.numpy() for v in family.generator.trainable_variables]
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, after))
    scales = [float(v) for v in strategy.experimental_local_results(scale.value)]
    halved = scales == [s / 2 for s in scales_before]
    print("RESULT", unchanged, all(np.isfinite(w).all() for w in after), halved, scales)
    """
)


@pytest.mark.slow
def test_an_overflow_on_one_replica_skips_the_step_on_every_replica(tmp_path) -> None:
    """Keras' LossScaleOptimizer judges each replica's own gradients and follows the first
    replica; GANime makes every replica skip when any overflowed (families/base.py)."""
    overrides = [
        "model.base_filters=4",
        "train.batch_size=4",
        "train.precision=mixed_float16",
        f"train.output_dir={tmp_path}",
    ]
    stdout = run_on_two_cpus(
        SKIP_TOGETHER, str(EXPERIMENTS / "smoke.yaml"), *overrides, folder=tmp_path
    )
    result = next(line for line in stdout.splitlines() if line.startswith("RESULT"))
    # Weights unchanged and finite, both replicas' scales halved (to the same value).
    assert result.startswith("RESULT True True True"), result
    first, second = result.split("[")[1].rstrip("]").split(", ")
    assert first == second, result
