"""Pix2Pix with optional Total-Variation regularization (GANime's best model, FID 220.5)."""

from __future__ import annotations

import tensorflow as tf

from ganime_core.colorizers import Colorizer, GeneratorColorizer
from ganime_core.config import ExperimentConfig, Pix2PixSettings
from ganime_core.families.base import Batch, GANFamily, average, network_options
from ganime_core.losses import (
    adversarial_loss,
    l1_loss,
    pix2pix_discriminator_loss,
    total_variation_loss,
)
from ganime_core.networks import patchgan_discriminator, unet_generator


class Pix2Pix(GANFamily):
    """U-Net generator against a conditional PatchGAN.

    L_G = BCE(D(x, G(x)), real) + lambda_l1 * |y - G(x)| + lambda_tv * TV(G(x))
    L_D = BCE(D(x, y), real) + BCE(D(x, G(x)), fake)

    TV by `tv_norm` (losses.total_variation_loss): l1 and l2 are per-pixel means like the L1
    term; l2_batch, the authors' norm of the whole global batch, is the same value for every
    example, so `average` of it over the global batch is that norm.
    """

    name = "pix2pix"

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        super().__init__(config, pretrained)
        settings: Pix2PixSettings = config.model
        self.settings = settings
        shape = network_options(config)
        self.generator = unet_generator(dropout=settings.dropout, **shape)
        self.discriminator = patchgan_discriminator(conditional=True, **shape)
        self.build_optimizers()

    def losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        sketch, color = batch["sketch"], batch["color"]
        s = self.settings
        fake = self.generator(sketch, training=True)
        real_logits = self.discriminator([sketch, color], training=True)
        fake_logits = self.discriminator([sketch, fake], training=True)

        gen_adv = average(adversarial_loss(fake_logits, real=True))
        gen_l1 = average(l1_loss(color, fake))
        gen_tv = average(total_variation_loss(fake, s.tv_norm))
        return {
            "gen_total": gen_adv + s.lambda_l1 * gen_l1 + s.lambda_tv * gen_tv,
            "gen_adv": gen_adv,
            "gen_l1": gen_l1,
            "gen_tv": gen_tv,
            "disc_total": average(pix2pix_discriminator_loss(real_logits, fake_logits)),
        }

    def colorizer(self) -> Colorizer:
        return GeneratorColorizer(self.name, self.generator)
