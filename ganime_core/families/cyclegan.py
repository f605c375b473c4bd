"""CycleGAN: unpaired sketch <-> colour translation (GANime: FID 272.6 with no paired data)."""

from __future__ import annotations

from typing import ClassVar

import keras
import tensorflow as tf

from ganime_core.colorizers import Colorizer, GeneratorColorizer
from ganime_core.config import CycleGANSettings, ExperimentConfig
from ganime_core.families.base import Batch, ModelFamily, average, network_options
from ganime_core.losses import (
    adversarial_loss,
    cycle_consistency_loss,
    cyclegan_discriminator_loss,
    l1_loss,
)
from ganime_core.networks import patchgan_discriminator, unet_generator


class CycleGAN(ModelFamily):
    """G: sketch X -> colour Y, F: Y -> X, unconditional PatchGANs D_x and D_y.

    L_G = BCE(D_y(G(x)), real) + lambda_cycle * (|x - F(G(x))| + |y - G(F(y))|)
          + lambda_identity * |y - G(y)|, and symmetrically L_F;
    L_D = 0.5 * (BCE(D(real), real) + BCE(D(fake), fake)) for each discriminator.
    """

    name = "cyclegan"
    objectives: ClassVar[dict[str, str]] = {
        "generator": "gen_g_total",
        "generator_f": "gen_f_total",
        "discriminator_x": "disc_x",
        "discriminator_y": "disc_y",
    }

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        super().__init__(config, pretrained)
        settings: CycleGANSettings = config.model
        self.settings = settings
        shape = network_options(config)
        # "generator" is sketch -> colour in every family: generation and export rely on the name.
        self.generator = unet_generator(dropout=settings.dropout, name="generator", **shape)
        self.generator_f = unet_generator(dropout=settings.dropout, name="generator_f", **shape)
        self.discriminator_x = patchgan_discriminator(
            conditional=False, name="discriminator_x", **shape
        )
        self.discriminator_y = patchgan_discriminator(
            conditional=False, name="discriminator_y", **shape
        )
        self.build_optimizers()

    def networks(self) -> dict[str, keras.Model]:
        return {
            "generator": self.generator,
            "generator_f": self.generator_f,
            "discriminator_x": self.discriminator_x,
            "discriminator_y": self.discriminator_y,
        }

    def step_passes(self) -> list[tuple[keras.Model, int, bool]]:
        # Each generator: translate, cycle back the other's output, identity. Each
        # discriminator: a real and a generated image.
        return [
            (self.generator, 3, True),
            (self.generator_f, 3, True),
            (self.discriminator_x, 2, True),
            (self.discriminator_y, 2, True),
        ]

    def losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        x, y = batch["sketch"], batch["color"]
        s = self.settings
        G, F = self.generator, self.generator_f  # noqa: N806 - the paper's names
        fake_y = G(x, training=True)
        cycled_x = F(fake_y, training=True)
        fake_x = F(y, training=True)
        cycled_y = G(fake_x, training=True)
        same_y = G(y, training=True)
        same_x = F(x, training=True)

        real_x_logits = self.discriminator_x(x, training=True)
        real_y_logits = self.discriminator_y(y, training=True)
        fake_x_logits = self.discriminator_x(fake_x, training=True)
        fake_y_logits = self.discriminator_y(fake_y, training=True)

        gen_g_adv = average(adversarial_loss(fake_y_logits, real=True))
        gen_f_adv = average(adversarial_loss(fake_x_logits, real=True))
        cycle = average(cycle_consistency_loss(x, cycled_x, y, cycled_y))
        identity_g = average(l1_loss(y, same_y))
        identity_f = average(l1_loss(x, same_x))
        return {
            "gen_g_total": gen_g_adv + s.lambda_cycle * cycle + s.lambda_identity * identity_g,
            "gen_f_total": gen_f_adv + s.lambda_cycle * cycle + s.lambda_identity * identity_f,
            "gen_g_adv": gen_g_adv,
            "gen_f_adv": gen_f_adv,
            "cycle": cycle,
            "identity_g": identity_g,
            "identity_f": identity_f,
            "disc_x": average(cyclegan_discriminator_loss(real_x_logits, fake_x_logits)),
            "disc_y": average(cyclegan_discriminator_loss(real_y_logits, fake_y_logits)),
        }

    def colorizer(self) -> Colorizer:
        return GeneratorColorizer(self.name, self.generator)
