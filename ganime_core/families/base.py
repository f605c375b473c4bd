"""The surface every model family shares; the train loop, Ray, Tune and MLflow see only this."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import tensorflow as tf

from ganime_core import precision
from ganime_core.colorizers import Colorizer
from ganime_core.config import ExperimentConfig, OptimizerConfig

if TYPE_CHECKING:
    from ganime_core.data.pipeline import TrainingData

# {"sketch": (B, S, S, 3), "color": (B, S, S, 3)}, float32 in [-1, 1]; and "reference"
# (B, S, S, 3) for a family that trains with a reference (settings.training_reference not
# None: Style2paints), with "key" (B,) int64, each example's train file index, when that
# reference is a fixed image per file (own, same_palette): what its cached hints are keyed by.
Batch = dict[str, tf.Tensor]


def adam(settings: OptimizerConfig, network: keras.Model) -> keras.optimizers.Adam:
    """An Adam optimizer whose slots exist now, so a checkpoint restores into them directly."""
    optimizer = keras.optimizers.Adam(
        learning_rate=settings.learning_rate, beta_1=settings.beta_1, beta_2=settings.beta_2
    )
    optimizer.build(network.trainable_variables)
    return optimizer


def network_options(config: ExperimentConfig) -> dict[str, Any]:
    """The size and normalization arguments every generator and discriminator takes."""
    return {
        "image_size": config.data.image_size,
        "base_filters": config.model.base_filters,
        "norm": config.model.norm,
        "synchronized": config.model.sync_batch_norm,
    }


def average(per_example: tf.Tensor) -> tf.Tensor:
    """This replica's share of the mean over the global batch; replicas' shares sum to the mean."""
    return tf.nn.compute_average_loss(per_example)


def apply_gradients(
    optimizer: keras.optimizers.Optimizer,
    grads: list[tf.Tensor],
    variables: list[tf.Variable],
    allreduce_dtype: str,
) -> None:
    """Sum `grads` over the replicas in `allreduce_dtype` and update `variables` with them.

    Under a multi-replica strategy Keras' optimizer all-reduces the gradients it is given, then
    casts them to each variable's dtype: casting first is what makes the wire format bfloat16.
    """
    replicas = _replicas_in_sync()
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and replicas > 1:
        grads = _all_skip_if_any_overflowed(grads, replicas)
    if allreduce_dtype != "float32" and replicas > 1:
        grads = [tf.cast(grad, allreduce_dtype) for grad in grads]
    optimizer.apply_gradients(zip(grads, variables, strict=True))


def _all_skip_if_any_overflowed(grads: list[tf.Tensor], replicas: int) -> list[tf.Tensor]:
    """Keras' LossScaleOptimizer checks each replica's own gradients, before they are summed,
    and acts on the first replica's verdict alone (Keras 3.15, `_tf_apply`): another replica's
    overflow would reach the weights. So every replica learns whether any overflowed, and if
    one did, all pass NaN gradients: all skip the step and halve the scale together."""
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(grad)) for grad in grads])
    context = tf.distribute.get_replica_context()
    finite_on = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(finite, tf.float32))
    every = finite_on >= replicas - 0.5
    return [tf.where(every, grad, tf.fill(tf.shape(grad), float("nan"))) for grad in grads]


def _replicas_in_sync() -> int:
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


class ModelFamily(abc.ABC):
    """Networks and optimizers built from the config, one train step, and a colorizer.

    A step is `gradients` (forward and backward: what `train.jit_compile` compiles with XLA)
    then `apply` (the replicas' gradients summed, each network's Adam update). Construct inside
    `strategy.scope()` and `precision.dtype_policy(...)` (`build_family` does the latter); call
    `train_step` inside `strategy.run`.
    """

    name: ClassVar[str]
    # The loss each trained network minimizes, by network name (a key of `losses`).
    objectives: ClassVar[dict[str, str]]

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        """`pretrained`: False builds a family's frozen pretrained parts (Style2paints' VGG19)
        as seeded stand-ins, for what needs only their shapes (`ganime describe`)."""
        self.config = config
        self.pretrained = pretrained

    def precompute(self, data: TrainingData) -> None:
        """What the family computes once from the training data before its first step
        (Style2paints: the style hints of its fixed references); nothing by default. The
        train loop calls it inside the strategy's scope, so variables made here replicate;
        what it makes is rebuilt from the data by every run, never checkpointed."""
        return None  # most families need nothing before training

    @abc.abstractmethod
    def networks(self) -> dict[str, keras.Model]:
        """Every trained network, by the name used in checkpoints and `ganime describe`."""

    @abc.abstractmethod
    def losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Every loss of one per-replica batch (this replica's shares of the global-batch
        means), the networks in training mode; each network's objective among them."""

    @abc.abstractmethod
    def step_passes(self) -> list[tuple[keras.Model, int, bool]]:
        """Each network a train step runs: (network, passes per example, trained), what
        flops.train_step_flops counts."""

    @abc.abstractmethod
    def colorizer(self) -> Colorizer:
        """The trained networks as a Colorizer, in inference mode: what the sample grids and
        the evaluations run."""

    def build_optimizers(self) -> None:
        """One Adam per network in `objectives`, behind loss scaling under mixed_float16.
        Call at the end of a subclass's __init__."""
        networks = self.networks()
        self._optimizers = {
            f"{name}_optimizer": adam(self.config.optimizer, networks[name])
            for name in self.objectives
        }
        # What steps each network: its Adam, or the Adam behind a loss scale.
        self.updaters = {name: self._optimizers[f"{name}_optimizer"] for name in self.objectives}
        if precision.needs_loss_scaling(self.config.train.precision):
            self.updaters = {
                name: precision.loss_scaled(optimizer) for name, optimizer in self.updaters.items()
            }
            for name, updater in self.updaters.items():
                updater.build(networks[name].trainable_variables)

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every Adam, by the name used in checkpoints: `<network>_optimizer`. The same under
        every precision: a loss scale wraps them, it does not replace them."""
        return self._optimizers

    def gradients(self, batch: Batch) -> tuple[dict[str, tf.Tensor], dict[str, list[tf.Tensor]]]:
        """One per-replica batch's losses, and each network's gradient of its objective (of
        the loss-scaled objective under mixed_float16; `apply` unscales it)."""
        networks = self.networks()
        with tf.GradientTape(persistent=True) as tape:
            losses = self.losses(batch)
            scaled = {
                name: self.updaters[name].scale_loss(losses[loss])
                for name, loss in self.objectives.items()
            }
        grads = {
            name: tape.gradient(scaled[name], networks[name].trainable_variables)
            for name in self.objectives
        }
        del tape
        return losses, grads

    def apply(self, grads: dict[str, list[tf.Tensor]]) -> None:
        """Step each network down its own gradient, summed over the replicas."""
        networks = self.networks()
        for name, network_grads in grads.items():
            apply_gradients(
                self.updaters[name],
                network_grads,
                networks[name].trainable_variables,
                self.config.train.gradient_allreduce,
            )

    def train_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Update every network on one per-replica batch; return this replica's loss shares."""
        losses, grads = self.gradients(batch)
        self.apply(grads)
        return losses

    def loss_scale_variables(self) -> list[tf.Variable]:
        """mixed_float16's loss scales and their good-step counters (none otherwise): kept in
        a checkpoint apart from the weights, so that checkpoints resume across precisions."""
        return [
            variable
            for updater in self.updaters.values()
            if isinstance(updater, keras.optimizers.LossScaleOptimizer)
            for variable in (updater.dynamic_scale, updater.step_counter)
        ]

    def figure_shapes(self) -> dict[str, list[int]]:
        """The output shapes of the blocks a paper's figure draws, by layer name, where the
        figure is followed block by block (Style2paints' Fig. 2)."""
        return {}

    def model_files(self) -> dict[str, Path]:
        """Files a logged model of this family carries beside its generator, by artifact name
        (Style2paints: the VGG19 weights its hint comes from)."""
        return {}

    def checkpoint_items(self) -> dict[str, Any]:
        """What a checkpoint holds: networks, optimizers and the dropout RNG state.

        Keras keeps each Dropout's seed in a SeedGenerator variable that tf.train.Checkpoint does
        not track through the model; without it a resumed run would draw other dropout masks.
        """
        rng = [
            v
            for net in self.networks().values()
            for v in net.variables
            if "seed_generator" in v.path
        ]
        return {**self.networks(), **self.optimizers(), "rng": rng}


class GANFamily(ModelFamily):
    """One generator against one discriminator, each with its own Adam (Pix2Pix, Style2paints).
    A subclass builds `generator` and `discriminator`, then calls `build_optimizers()`; its
    `losses` include gen_total and disc_total."""

    objectives: ClassVar[dict[str, str]] = {
        "generator": "gen_total",
        "discriminator": "disc_total",
    }
    generator: keras.Model
    discriminator: keras.Model

    def networks(self) -> dict[str, keras.Model]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def step_passes(self) -> list[tuple[keras.Model, int, bool]]:
        # G(x) once; D on the real and on the generated image.
        return [(self.generator, 1, True), (self.discriminator, 2, True)]
