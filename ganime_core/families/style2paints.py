"""Style2paints V1: a sketch and a reference painting in, a painting out.

The residual U-Net (ganime_core/residual_unet.py) gets the sketch and the reference's style
hint, VGG19's fc1 (frozen, ganime_core/vgg.py); an unconditional discriminator judges paintings
alone. The paper's choices left open are config values (Style2paintsSettings).

L_G = adv + lambda_l1 * (|y - G_f| + alpha |T(y) - G_g1| + beta |y - G_g2|)
  acgan: adv = mean_k (D(G)_k - V(y)_k)^2;  L_D = mean_k (D(y)_k - V(y)_k)^2 + mean_k D(G)_k^2
  dcgan: adv = BCE(D(G), real);             L_D = BCE(D(y), real) + BCE(D(G), fake)
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from ganime_core.colorizers import Colorizer, HintedGeneratorColorizer
from ganime_core.config import ExperimentConfig, Style2paintsSettings
from ganime_core.families.base import Batch, GANFamily, average
from ganime_core.losses import (
    acgan_discriminator_loss,
    acgan_generator_loss,
    adversarial_loss,
    guided_l1_loss,
    l1_loss,
    pix2pix_discriminator_loss,
)
from ganime_core.networks import painting_discriminator
from ganime_core.pretrained import vgg19_weights
from ganime_core.residual_unet import HINT_FEATURES, figure_shapes, residual_unet
from ganime_core.vgg import vgg19_fc1

# The generator's mid-level (the 1/32-size residual blocks and the hint's entry): where the
# paper's Fig. 6 finds the gradient vanishing without the guide decoders.
MID_LEVEL_PREFIXES = ("hint_dense", "mid")  # mid_entry, mid1_..., mid2_...


class Style2paints(GANFamily):
    """Residual U-Net with two guide decoders against a painting discriminator; the reference
    reaches the generator only through VGG19 fc1."""

    name = "style2paints"

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        super().__init__(config, pretrained)
        settings: Style2paintsSettings = config.model
        self.settings = settings
        size = config.data.image_size
        self.generator = residual_unet(
            image_size=size,
            base_filters=settings.base_filters,
            norm=settings.norm,
            mid_blocks=settings.mid_blocks,
            hint_norm=settings.hint_norm,
            synchronized=settings.sync_batch_norm,
        )
        self.discriminator = painting_discriminator(
            image_size=size,
            base_filters=settings.base_filters,
            outputs=HINT_FEATURES if settings.discriminator == "acgan" else 1,
            norm=settings.norm,
        )
        # None: the seeded stand-in (allowed by the config, or shapes only)
        self.vgg19_file = vgg19_weights(settings, config.assets) if pretrained else None
        self.hint_encoder = vgg19_fc1(self.vgg19_file)  # frozen: in no optimizer or checkpoint
        self.build_optimizers()

    def losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Every loss of one per-replica batch, the networks in training mode; gen_total and
        disc_total are what the two optimizers minimize."""
        s = self.settings
        sketch, color, reference = batch["sketch"], batch["color"], batch["reference"]
        hint = self.hint_encoder(reference, training=False)  # V(r): (B, 4096)
        # V(y), the AC-GAN's target: the same vector when the reference is the colour image
        own = s.training_reference == "own"
        real_hint = hint if own else self.hint_encoder(color, training=False)
        painting, guide1, guide2 = self.generator([sketch, hint], training=True)
        real_out = self.discriminator(color, training=True)
        fake_out = self.discriminator(painting, training=True)
        if s.discriminator == "acgan":
            gen_adv = average(acgan_generator_loss(fake_out, real_hint))
            disc_total = average(acgan_discriminator_loss(real_out, fake_out, real_hint))
        else:
            gen_adv = average(adversarial_loss(fake_out, real=True))
            disc_total = average(pix2pix_discriminator_loss(real_out, fake_out))
        gen_l1 = average(guided_l1_loss(color, painting, guide1, guide2, s.alpha, s.beta))
        return {
            "gen_total": gen_adv + s.lambda_l1 * gen_l1,
            "gen_adv": gen_adv,
            "gen_l1": gen_l1,  # the guided L1 of eq. 2
            "painting_l1": average(l1_loss(color, painting)),  # its first term: comparable
            "disc_total": disc_total,  # across alpha and beta
        }

    def step_passes(self) -> list[tuple[keras.Model, int, bool]]:
        # VGG19 fc1 of the reference, and of the colour image when the reference is another.
        hints = 1 if self.settings.training_reference == "own" else 2
        return [*super().step_passes(), (self.hint_encoder, hints, False)]

    def mid_level_variables(self) -> list[tf.Variable]:
        """The generator's trainable mid-level weights (MID_LEVEL_PREFIXES)."""
        return [
            v
            for layer in self.generator.layers
            if layer.name.startswith(MID_LEVEL_PREFIXES)
            for v in layer.trainable_variables
        ]

    def mid_level_gradient_norm(self, batch: Batch) -> tf.Tensor:
        """The global norm of gen_total's gradient at the mid-level, for one batch: what the
        paper's Fig. 6 shows vanishing in a 'lazy' U-Net trained without guide decoders."""
        variables = self.mid_level_variables()
        with tf.GradientTape() as tape:
            loss = self.losses(batch)["gen_total"]
        return tf.linalg.global_norm(tape.gradient(loss, variables))

    def colorizer(self) -> Colorizer:
        return HintedGeneratorColorizer(
            self.name, self.generator, self.hint_encoder, pretrained=self.vgg19_file is not None
        )

    def figure_shapes(self) -> dict[str, list[int]]:
        return figure_shapes(self.generator)

    def model_files(self) -> dict[str, Path]:
        return {"weights": self.vgg19_file} if self.vgg19_file is not None else {}
