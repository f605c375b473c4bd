"""Style2paints V1: a sketch and a reference painting in, a painting out.

The residual U-Net (ganime_core/residual_unet.py) gets the sketch and the reference's style
hint V, VGG19's fc1 (frozen, ganime_core/vgg.py) or, as a control needing no weights, its colour
thumbnail (`model.hint`, ganime_core/hints.py); an unconditional discriminator judges paintings
alone. The paper's choices left open are config values (Style2paintsSettings).

L_G = adv + lambda_l1 * (|y - G_f| + alpha |T(y) - G_g1| + beta |y - G_g2|)
  acgan: adv = mean_k (D(G)_k - V(y)_k)^2;  L_D = mean_k (D(y)_k - V(y)_k)^2 + mean_k D(G)_k^2
  dcgan: adv = BCE(D(G), real);             L_D = BCE(D(y), real) + BCE(D(G), fake)

The hint cache: V is a function of the reference image alone, and VGG19 at its 224 px input
costs about as much as the rest of a 32-64 px step (the thumbnail costs nothing, but one path
serves both hints). Where each training sketch's reference is one fixed image
(training_reference own or same_palette), `precompute` computes V of every train file's
reference (and, for same_palette, of its colour image: the AC-GAN's V(y)) once, keeps the
tables on disk under data.cache_dir/hints/, and a step looks its batch's rows up by the
pipeline's "key" instead of running the encoder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import keras
import numpy as np
import tensorflow as tf

from ganime_core.colorizers import Colorizer, HintedGeneratorColorizer
from ganime_core.config import ExperimentConfig, Style2paintsSettings
from ganime_core.data.pipeline import POOLED_REFERENCES, to_float
from ganime_core.families.base import Batch, GANFamily, average
from ganime_core.hints import (
    HintEncoder,
    encoder_identity,
    hint_encoder,
    hint_features,
    hint_file,
    standin,
)
from ganime_core.losses import (
    acgan_discriminator_loss,
    acgan_generator_loss,
    adversarial_loss,
    guided_l1_loss,
    l1_loss,
    pix2pix_discriminator_loss,
)
from ganime_core.networks import painting_discriminator
from ganime_core.residual_unet import figure_shapes, residual_unet

if TYPE_CHECKING:
    from ganime_core.data.pipeline import TrainingData

log = logging.getLogger(__name__)

# The generator's mid-level (the 1/32-size residual blocks and the hint's entry): where the
# paper's Fig. 6 finds the gradient vanishing without the guide decoders.
MID_LEVEL_PREFIXES = ("hint_dense", "mid")  # mid_entry, mid1_..., mid2_... (their FiLM too)
PoolKind = Literal["reference", "color"]
# What the hint encoders compute from an image (resize, preprocessing, layers): bump it when
# that changes, and every cached hint table is computed again.
HINT_ENCODER_VERSION = 1
# Images per VGG19 call while filling a table: a 224 px block1 map is 13 MB an image, so the
# largest two live at once stay under ~1 GB.
HINT_TABLE_BATCH = 32


class Style2paints(GANFamily):
    """Residual U-Net with two guide decoders against a painting discriminator; the reference
    reaches the generator only through the frozen hint encoder (VGG19 fc1, or its thumbnail)."""

    name = "style2paints"

    def __init__(self, config: ExperimentConfig, pretrained: bool = True) -> None:
        super().__init__(config, pretrained)
        settings: Style2paintsSettings = config.model
        self.settings = settings
        size = config.data.image_size
        # The encoder's width, known before it is built: the networks are built first, so their
        # initial weights do not depend on what building VGG19 draws.
        self.hint_width = hint_features(settings)
        self.generator = residual_unet(
            image_size=size,
            base_filters=settings.base_filters,
            norm=settings.norm,
            mid_blocks=settings.mid_blocks,
            hint_norm=settings.hint_norm,
            synchronized=settings.sync_batch_norm,
            hint_injection=settings.hint_injection,
            hint_features=self.hint_width,
        )
        self.discriminator = painting_discriminator(
            image_size=size,
            base_filters=settings.base_filters,
            outputs=self.hint_width if settings.discriminator == "acgan" else 1,
            norm=settings.norm,
        )
        # What the encoder reads, logged with the model: VGG19's weights (None: the seeded
        # stand-in, allowed by the config, or shapes only), the data set's palettes.json, or
        # nothing (colour_thumbnail).
        self.hint_file = hint_file(config) if pretrained else None
        self.standin = standin(settings, self.hint_file)  # marks the metrics
        # frozen: in no optimizer or checkpoint
        self.hint_encoder = hint_encoder(settings, self.hint_file)
        # V of every train file's fixed reference ("reference") and colour image ("color"),
        # by file index, once `precompute` has run: frozen like the encoder they come from.
        self.hint_tables: dict[str, tf.Variable] = {}
        self.build_optimizers()

    def precompute(self, data: TrainingData) -> None:
        """The hint tables, where each training sketch's reference is one fixed image: V of
        every train file's reference and, unless it is the colour image itself (own), V of
        its colour image, the AC-GAN's target. Read from data.cache_dir/hints/ when computed
        before with the same images and encoder; computed and written there otherwise.

        Non-trainable tf.Variables created in the caller's strategy scope, so each replica has
        them (under MultiWorkerMirroredStrategy the chief's values are broadcast); in no
        optimizer and no checkpoint: a run rebuilds them from the data.

        With data.jitter, own's reference is its colour image cropped and mirrored with it, so
        the uncached hint is V(jittered colour) and the cached one V(the file's unjittered
        colour image), the AC-GAN's real_hint the same vector; likewise same_palette's V(y).
        Not a small difference: fc1 reads VGG19's 7x7 map position by position, and with the
        seeded stand-in a crop and mirror move V by ~16% of its norm, as far as the nearest
        other file's V (generated data, 32-64 px). The cached hint is the one inference sees
        (references are never jittered there), but the jitter no longer varies the hint from
        epoch to epoch: only the sketch and the L1 target are jittered.
        """
        if self.settings.training_reference not in POOLED_REFERENCES:
            return  # jittered: a new reference every epoch (no "key"), so V runs every step
        kinds: tuple[PoolKind, ...] = ("reference",)
        if self.settings.training_reference != "own":
            kinds += ("color",)
        for kind in kinds:
            table = self._hint_table(data, kind)
            self.hint_tables[kind] = tf.Variable(table, trainable=False, name=f"{kind}_hints")

    def hint_cache_path(self, data: TrainingData, kind: PoolKind) -> Path:
        """data.cache_dir/hints/<digest>.npy, the digest of everything the table depends on:
        the pool's images, their size, the hint kind and its weights (VGG19's file's path,
        size and modification time, or the seeded stand-in), the encoder's definition and the
        dtype it computes in."""
        parts = (
            f"pool {data.pool_hash(kind)}",
            f"size {self.config.data.image_size}",
            f"hint {encoder_identity(self.settings, self.hint_file)}",
            f"encoder {HINT_ENCODER_VERSION} {self.hint_encoder.compute_dtype}",
        )
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
        return self.config.data.cache_dir / "hints" / f"{digest}.npy"

    def _hint_table(self, data: TrainingData, kind: PoolKind) -> np.ndarray:
        """(train files, hint width) float32: the cached table, or V of each pool image,
        computed and cached (written whole under another name, then renamed: a reader never
        sees half a file, and workers racing to write it write the same thing)."""
        path = self.hint_cache_path(data, kind)
        if path.is_file():
            try:
                table = np.load(path)
            except (OSError, ValueError) as exc:
                log.warning("hints: %s unreadable (%s); computing it again", path, exc)
            else:
                if table.ndim == 2 and table.shape[1] == self.hint_width:
                    log.info("hints: %s table of %d read from %s", kind, len(table), path)
                    return table
                log.warning(
                    "hints: %s holds %s, not (n, %d); computing it",
                    path,
                    table.shape,
                    self.hint_width,
                )
        table = encode_pool(self.hint_encoder, data.reference_pool(kind), self.hint_width)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as file:
            np.save(file, table)
        os.replace(file.name, path)
        log.info("hints: %s table of %d computed, cached at %s", kind, len(table), path)
        return table

    def losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Every loss of one per-replica batch, the networks in training mode; gen_total and
        disc_total are what the two optimizers minimize."""
        s = self.settings
        sketch, color = batch["sketch"], batch["color"]
        hint, real_hint = self.hints(batch)
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

    def hints(self, batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
        """V(r), the generator's hint, and V(y), the AC-GAN's target, each (B, hint width)
        float32: looked up by the batch's "key" in the tables `precompute` made, or computed by
        the encoder (a jittered reference; a batch without "key"; no precompute). float32 under
        a mixed precision too, as the discriminator's outputs the AC-GAN loss compares V(y)
        with."""
        own = self.settings.training_reference == "own"
        if self.hint_tables and "key" in batch:
            hint = tf.gather(self.hint_tables["reference"], batch["key"])
            return hint, hint if own else tf.gather(self.hint_tables["color"], batch["key"])
        hint = self.encode(batch["reference"])  # V(r): (B, hint width)
        # V(y): the same vector when the reference is the colour image
        return hint, hint if own else self.encode(batch["color"])

    def encode(self, images: tf.Tensor) -> tf.Tensor:
        """V of images in [-1, 1], float32 (computed in the encoder's dtype)."""
        return tf.cast(self.hint_encoder(images, training=False), tf.float32)

    def step_passes(self) -> list[tuple[keras.Model, int, bool]]:
        # The encoder on the reference, and on the colour image when the reference is another;
        # none once the tables hold them.
        hints = 1 if self.settings.training_reference == "own" else 2
        if self.hint_tables:
            hints = 0
        if not isinstance(self.hint_encoder, keras.Model):
            return super().step_passes()  # the palette lookup does no model arithmetic
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
            self.name, self.generator, self.hint_encoder, pretrained=not self.standin
        )

    def figure_shapes(self) -> dict[str, list[int]]:
        return figure_shapes(self.generator)

    def model_files(self) -> dict[str, Path]:
        return {"weights": self.hint_file} if self.hint_file is not None else {}


def encode_pool(encoder: HintEncoder, images: np.ndarray, width: int) -> np.ndarray:
    """V of uint8 images (n, s, s, 3), HINT_TABLE_BATCH at a time: (n, width) float32. Each
    image is first what the input pipeline makes of it (to_float), so a row is what the
    encoder returns for that image in a batch."""
    rows = []
    for start in range(0, len(images), HINT_TABLE_BATCH):
        batch = to_float(images[start : start + HINT_TABLE_BATCH])
        rows.append(tf.cast(encoder(batch, training=False), tf.float32).numpy())
    if not rows:
        return np.zeros((0, width), np.float32)
    return np.concatenate(rows)
