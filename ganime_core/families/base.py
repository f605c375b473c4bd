"""The surface every model family shares; the train loop, Ray, Tune and MLflow see only this."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import keras
import tensorflow as tf

from ganime_core.colorizers import Colorizer
from ganime_core.config import ExperimentConfig, OptimizerConfig

# {"sketch": (B, S, S, 3), "color": (B, S, S, 3)}, float32 in [-1, 1]; and "reference"
# (B, S, S, 3) for a family whose settings have a training_reference (Style2paints).
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
    if allreduce_dtype != "float32" and _replicas_in_sync() > 1:
        grads = [tf.cast(grad, allreduce_dtype) for grad in grads]
    optimizer.apply_gradients(zip(grads, variables, strict=True))


def _replicas_in_sync() -> int:
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


class ModelFamily(abc.ABC):
    """Networks and optimizers built from the config, one train step, and a colorizer.

    Construct inside `strategy.scope()`; call `train_step` inside `strategy.run`.
    """

    name: ClassVar[str]

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        """`pretrained`: False builds a family's frozen pretrained parts (Style2paints' VGG19)
        as seeded stand-ins, for what needs only their shapes (`ganime describe`)."""
        self.config = config
        self.pretrained = pretrained

    @abc.abstractmethod
    def networks(self) -> dict[str, keras.Model]:
        """Every network, by the name used in checkpoints and `ganime describe`."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every optimizer, by the name used in checkpoints."""

    @abc.abstractmethod
    def train_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Update every network on one per-replica batch; return this replica's loss shares."""

    @abc.abstractmethod
    def colorizer(self) -> Colorizer:
        """The trained networks as a Colorizer, in inference mode: what the sample grids and
        the evaluations run."""

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
    A subclass builds `generator` and `discriminator`, then calls `build_optimizers()`."""

    generator: keras.Model
    discriminator: keras.Model

    def build_optimizers(self) -> None:
        self.generator_optimizer = adam(self.config.optimizer, self.generator)
        self.discriminator_optimizer = adam(self.config.optimizer, self.discriminator)

    def networks(self) -> dict[str, keras.Model]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {
            "generator_optimizer": self.generator_optimizer,
            "discriminator_optimizer": self.discriminator_optimizer,
        }

    def update(
        self,
        gen_tape: tf.GradientTape,
        gen_loss: tf.Tensor,
        disc_tape: tf.GradientTape,
        disc_loss: tf.Tensor,
    ) -> None:
        """Step each network down its own loss's gradient."""
        for tape, loss, net, optimizer in (
            (gen_tape, gen_loss, self.generator, self.generator_optimizer),
            (disc_tape, disc_loss, self.discriminator, self.discriminator_optimizer),
        ):
            variables = net.trainable_variables
            apply_gradients(
                optimizer,
                tape.gradient(loss, variables),
                variables,
                self.config.train.gradient_allreduce,
            )
