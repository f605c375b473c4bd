"""The experiment schema: one validated object from a YAML file plus `--set key=value` overrides.

Unknown keys, wrong types and impossible values are rejected here, before anything runs, with the
field named. This module imports neither TensorFlow nor Ray, so drivers can validate cheaply.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ganime_core.errors import ConfigError
from ganime_core.families import FAMILIES
from ganime_core.splits import FOLDERS, split_folders

# Below 32 px the PatchGAN's three stride-2 blocks and two 4x4 valid convolutions leave no patch.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024


def default_cache_dir() -> Path:
    """Where generated data and scan results are kept: $GANIME_CACHE_DIR or ~/.cache/ganime."""
    return Path(os.environ.get("GANIME_CACHE_DIR") or Path.home() / ".cache" / "ganime")


# How a trained generator runs while it is measured (metrics.generator_mode, colorizers.py).
GeneratorMode = Literal["inference", "training"]
# Keras' dtype policies a run may train under (ganime_core/precision.py).
Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]


class Section(BaseModel):
    """A section of any file GANime reads (experiment, sweep, compare): unknown keys and NaN
    are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# The name of an experiment, a sweep or a compare: its MLflow experiment and its storage folder.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# A field marked schedulable weighs a loss or sets the optimizer's step and shapes no variable:
# a run may change it between epochs and go on from its checkpoint (a PBT explore,
# ExperimentConfig.schedulable_keys). Every other field is fixed for a run's life.
SCHEDULABLE = {"schedulable": True}


def schedulable(default: Any, **kwargs: Any) -> Any:
    """A pydantic Field a running training may change between epochs (see SCHEDULABLE)."""
    return Field(default, json_schema_extra=SCHEDULABLE, **kwargs)


class SyntheticData(Section):
    """Generated sketch/colour pairs, used when `data.path` is not set."""

    count: int = Field(
        500,
        ge=2,
        description="images generated: 80% in train/ (data.selection is carved from them), "
        "20% in val/ (the test split)",
    )
    seed: int = Field(0, ge=0)
    palette: Literal["tied", "free"] = Field(
        "tied",
        description="tied: each style variant of a part always has one colour, so colours can be "
        "read off the line art; free: each character's part colours are drawn at random, "
        "independent of its drawing, so only a reference in the same palette tells them",
    )


class DataConfig(Section):
    layout: Literal["paired", "unpaired"] = Field(
        "paired",
        description="paired: train/, val/ of colour|sketch images; unpaired: trainA/ (sketches), "
        "trainB/ (colour), valA/, valB/; val is the test split",
    )
    path: Path | None = Field(
        None, description="Kaggle-layout folder; unset = generated data in cache_dir"
    )
    image_size: int = 256
    jitter: bool = Field(True, description="resize to 286/256 of the size, random crop, flip")
    synthetic: SyntheticData = SyntheticData()
    cache_dir: Path = Field(default_factory=default_cache_dir)
    decoded_cache_mb: int = Field(
        1024,
        ge=0,
        description="keep the training images decoded in memory (per worker) when they fit in "
        "this many MB, so later epochs skip decoding; 0 = always decode; batches are the same",
    )

    selection: float | int = Field(
        0.1,
        description="the selection split carved from train/: a fraction (0 < x < 1, at least 2 "
        "images) or a count (>= 2); every decision while training or sweeping (best generator, "
        "ASHA, TPE, the sweep's best trial) reads it, never the test split",
    )
    selection_seed: int = Field(
        0,
        ge=0,
        description="which train images are carved for selection; apart from `seed`, so every "
        "trial and every compare seed selects on the same images",
    )

    @field_validator("selection")
    @classmethod
    def _fraction_or_count(cls, size: float | int) -> float | int:
        if isinstance(size, float) and not 0.0 < size < 1.0:
            raise ValueError(f"a fraction must be in (0, 1), got {size} (or give a count, e.g. 40)")
        if isinstance(size, int) and size < 2:
            raise ValueError(f"a count must be at least 2 (FID needs two images), got {size}")
        return size

    @field_validator("image_size")
    @classmethod
    def _power_of_two(cls, size: int) -> int:
        if size < MIN_IMAGE_SIZE or size > MAX_IMAGE_SIZE or size & (size - 1):
            raise ValueError(
                f"must be a power of two from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {size}"
            )
        return size

    @field_validator("path")
    @classmethod
    def _folders_exist(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        if not path.is_dir():
            raise ValueError(
                f"folder {path} does not exist (point data.path at a folder in the Kaggle "
                "layout, or remove it to train on generated data)"
            )
        layout = info.data.get("layout", "paired")
        for split_folder in FOLDERS:
            for folder in split_folders(layout, split_folder):
                if not (path / folder).is_dir():
                    raise ValueError(
                        f"{path} has no {folder}/ folder, which the {layout} layout needs"
                    )
        return path


class _NetworkSettings(Section):
    base_filters: int = Field(64, ge=1, description="filters of the first block; doubles to 8x")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="in the first three decoder blocks")
    sync_batch_norm: bool = Field(
        False, description="BatchNorm statistics over the global batch instead of per replica"
    )


class Pix2PixSettings(_NetworkSettings):
    family: Literal["pix2pix"]
    norm: Literal["batch", "instance"] = "batch"
    lambda_l1: float = schedulable(100.0, ge=0.0)
    lambda_tv: float = schedulable(1e-4, ge=0.0, description="0 = vanilla Pix2Pix")
    tv_norm: Literal["l1", "l2", "l2_batch"] = schedulable(
        "l1",
        description="l1: anisotropic, l2: isotropic (both per-pixel means); l2_batch: the "
        "authors' code: one L2 norm of all the batch's differences, ~10^3-10^4x larger at the "
        "same lambda_tv (ganime_core/losses.py)",
    )

    @property
    def paired(self) -> bool:
        """Trains on aligned sketch/colour pairs."""
        return True

    trainable: ClassVar[bool] = True  # ganime train runs it
    needs_reference: ClassVar[bool] = False  # the sketch alone decides the colours
    training_reference: ClassVar[None] = None  # trains on no reference
    colorize_batch_size: ClassVar[None] = None  # a generator: any batch (the caller's)


class CycleGANSettings(_NetworkSettings):
    family: Literal["cyclegan"]
    norm: Literal["batch", "instance"] = "instance"
    lambda_cycle: float = schedulable(
        10.0, ge=0.0, description="weight of each of the two cycle losses"
    )
    lambda_identity: float = schedulable(5.0, ge=0.0)

    @property
    def paired(self) -> bool:
        """Draws sketches and colours independently, even from paired files."""
        return False

    trainable: ClassVar[bool] = True  # ganime train runs it
    needs_reference: ClassVar[bool] = False
    training_reference: ClassVar[None] = None
    colorize_batch_size: ClassVar[None] = None


# VGG19's convolutions, by the names Keras gives them: what NST's layers may name.
VGG19_CONV_LAYERS = tuple(
    f"block{block}_conv{conv}"
    for block, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for conv in range(1, convs + 1)
)


class NSTSettings(Section):
    """Neural Style Transfer as the paper runs it (ganime_core/style_transfer.py): each image is
    optimized from its sketch toward its reference's style; nothing is trained."""

    family: Literal["nst"]
    style_layers: tuple[str, ...] = Field(
        ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
        min_length=1,
    )
    content_layers: tuple[str, ...] = Field(("block5_conv2",), min_length=1)
    style_weight: float = Field(1e-2, ge=0.0, description="divided by the number of style layers")
    content_weight: float = Field(1e4, ge=0.0, description="divided by the content layers")
    learning_rate: float = Field(0.02, gt=0.0)
    beta_1: float = Field(0.99, ge=0.0, lt=1.0)
    epsilon: float = Field(0.1, gt=0.0)
    steps: int = Field(1000, ge=1, description="Adam steps per image (the paper: 1,000)")
    batch_size: int = Field(8, ge=1, description="images optimized together, each its own loss")
    allow_untrained_vgg: bool = Field(
        False,
        description="without VGG19 weights here, a seeded untrained VGG19 stands in (tests and "
        "smoke runs); its numbers carry the _untrained_vgg19 mark, SSIM included",
    )

    @field_validator("style_layers", "content_layers")
    @classmethod
    def _vgg19_layers(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in layers if name not in VGG19_CONV_LAYERS]
        if unknown:
            raise ValueError(
                f"{unknown} are not VGG19 convolutions (block1_conv1 ... block5_conv4)"
            )
        return layers

    paired: ClassVar[bool] = False  # needs no pairs (SSIM is measured where files are pairs)
    trainable: ClassVar[bool] = False  # nothing to train: ganime evaluate measures it
    needs_reference: ClassVar[bool] = True  # the reference's style over the sketch
    training_reference: ClassVar[None] = None

    @property
    def colorize_batch_size(self) -> int:
        """Images colorized together: NST optimizes a batch at once, each image its own loss."""
        return self.batch_size


class FastNSTSettings(Section):
    """Fast NST: magenta's arbitrary-image-stylization-v1-256 from TF Hub, one forward pass."""

    family: Literal["fast_nst"]
    handle: str | None = Field(
        None,
        description="a TF Hub handle (URL) or an unpacked SavedModel folder; unset = the magenta "
        "model of `ganime assets` (fetched if missing and assets.auto_fetch allows it)",
    )
    style_size: int = Field(256, ge=16, description="references are resized to this square")
    batch_size: int = Field(8, ge=1, description="sketches per forward pass")

    paired: ClassVar[bool] = False
    trainable: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = True
    training_reference: ClassVar[None] = None

    @property
    def colorize_batch_size(self) -> int:
        """Sketches per forward pass of the SavedModel."""
        return self.batch_size


class Style2paintsSettings(Section):
    """Style2paints V1 (ganime_core/families/style2paints.py): a residual U-Net with two guide
    decoders, the reference's frozen VGG19 fc1 (or, as a control, its colour thumbnail: `hint`)
    as its global style hint, an unconditional painting discriminator. The paper publishes no
    code: every choice it leaves open is here.

    Objective: L_G = adversarial + lambda_l1 * (|y - G_f| + alpha |T(y) - G_g1| + beta |y - G_g2|)
    """

    family: Literal["style2paints"]
    base_filters: int = Field(16, ge=1, description="the encoder's first width (Fig. 2: 16)")
    norm: Literal["batch", "instance"] = Field(
        "instance", description="in every block; the paper's batch of 4 is small for BatchNorm"
    )
    sync_batch_norm: bool = Field(
        False, description="BatchNorm statistics over the global batch instead of per replica"
    )
    mid_blocks: int = Field(2, ge=0, description="residual blocks at the 1/32-size mid-level")
    hint_norm: Literal["layer", "none"] = Field(
        "layer",
        description="the paper's undefined 'global normalization' of the Dense(2048) hint: "
        "layer = zero mean, unit variance over its 2048 values (no learned affine); none = off",
    )
    alpha: float = schedulable(
        0.3, ge=0.0, description="guide decoder 1's grayscale L1 (paper: 0.3)"
    )
    beta: float = schedulable(0.9, ge=0.0, description="guide decoder 2's colour L1 (paper: 0.9)")
    lambda_l1: float = schedulable(
        100.0,
        ge=0.0,
        description="weight of the guided L1 against the adversarial loss; the paper gives none: "
        "100 is Pix2Pix's weight for the same L1 on [-1, 1] images, which GANime's paper uses",
    )
    hint: Literal["vgg19_fc1", "colour_thumbnail", "annotated_palette"] = Field(
        "vgg19_fc1",
        description="the reference's frozen style hint (ganime_core/hints.py): vgg19_fc1 = the "
        "paper's, VGG19's fc1 (4096 values); colour_thumbnail = the reference area-averaged to "
        "8x8, its 192 values in [-1, 1] (colours by position; no weights); annotated_palette = "
        "the colour of each part the reference shows, from generated data's palettes.json (32 "
        "values): the perfect part-aware encoder, a control for the generator's design. Neither "
        "control fetches or marks a VGG19",
    )
    discriminator: Literal["acgan", "dcgan"] = Field(
        "acgan",
        description="acgan: one output per hint value (4096 for vgg19_fc1), regressed to 0 for a "
        "generated painting and to the real painting's hint (eq. 3, least squares); dcgan: one "
        "real/fake logit (eq. 4)",
    )
    training_reference: Literal["own", "jittered", "same_palette"] = Field(
        "own",
        description="the reference paired with each training sketch: own = its colour image; "
        "jittered = a copy cropped, mirrored and hue-shifted, so pixels cannot be copied; "
        "same_palette = another drawing in the same palette (generated data's references/ "
        "folder), so colours must be transferred from a different picture",
    )
    hint_injection: Literal["add", "film_mid", "film_all"] = Field(
        "film_all",
        description="how the hint enters the generator: add = added once at the mid-level's "
        "entry (the paper's Fig. 2; the next InstanceNorm removes a spatially constant "
        "addition); film_mid = a per-channel scale and shift predicted from the hint after "
        "each mid-level normalization; film_all = also after each decoder normalization, the "
        "default: it followed references best with every hint (experiments/"
        "compare_reference.yaml, docs/SCIENCE.md)",
    )
    allow_untrained_vgg: bool = Field(
        False,
        description="without VGG19 weights here, a seeded untrained VGG19 stands in (tests and "
        "smoke runs); its numbers carry the _untrained_vgg19 mark, SSIM included; irrelevant "
        "with hint colour_thumbnail, which uses no VGG19",
    )

    paired: ClassVar[bool] = True  # the L1 needs each sketch's own colour image
    trainable: ClassVar[bool] = True
    needs_reference: ClassVar[bool] = True  # its style hint is computed from the reference
    colorize_batch_size: ClassVar[None] = None  # a generator: any batch (the caller's)

    @property
    def uses_vgg19(self) -> bool:
        """Whether the hint encoder is VGG19, so the run needs its weights (or the stand-in)."""
        return self.hint == "vgg19_fc1"

    @model_validator(mode="after")
    def _palette_hints_are_cached(self) -> Style2paintsSettings:
        # A jittered reference is a new image every step, which no palette annotates.
        if self.hint == "annotated_palette" and self.training_reference == "jittered":
            raise ValueError(
                "hint annotated_palette reads the palette of each training reference, and a "
                "jittered reference has none: use training_reference own or same_palette"
            )
        return self


ModelConfig = Annotated[
    Pix2PixSettings | CycleGANSettings | NSTSettings | FastNSTSettings | Style2paintsSettings,
    Field(discriminator="family"),
]
# Every method's name (ganime_core/families: the registry, a name-only import, no TensorFlow);
# ModelConfig has a settings class for each.
FAMILY_NAMES = tuple(FAMILIES)


class OptimizerConfig(Section):
    learning_rate: float = schedulable(2e-4, gt=0.0)
    beta_1: float = schedulable(0.5, ge=0.0, lt=1.0)
    beta_2: float = schedulable(0.999, ge=0.0, lt=1.0)


class TrainConfig(Section):
    batch_size: int = Field(32, ge=1, description="global batch, split over replicas")
    epochs: int = Field(150, ge=1)
    checkpoint_every: int = Field(5, ge=1, description="epochs between checkpoints")
    eval_every: int = Field(
        5,
        ge=0,
        description="epochs between FID/KID/SSIM evaluations, taken at checkpoints (a multiple "
        "of checkpoint_every); the last epoch is evaluated too; 0 = only at eval_epochs",
    )
    eval_epochs: tuple[int, ...] = Field(
        (),
        description="further epochs to evaluate (and checkpoint) at; a sweep whose experiment "
        "leaves eval_every unset evaluates at its ASHA rungs and last epoch this way",
    )
    keep_checkpoints: int = Field(3, ge=1)
    sample_images: int = Field(4, ge=1, description="selection rows in each epoch's sample grid")
    deterministic: bool = Field(
        False, description="TensorFlow op determinism: bit-identical reruns, somewhat slower"
    )
    gradient_allreduce: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="dtype the replicas' gradients are summed in; bfloat16 halves the bytes each "
        "step sends between workers (the optimizer still updates in float32; one replica ignores "
        "it)",
    )
    precision: Precision = Field(
        "float32",
        description="the networks' compute dtype (variables stay float32): mixed_bfloat16 on "
        "GPUs with bfloat16 tensor cores (A100, A10G, L4, H100), mixed_float16 with loss scaling "
        "on older ones (T4, V100); float32 on CPUs",
    )
    jit_compile: bool = Field(
        False,
        description="compile each step's forward and backward pass with XLA (the update stays "
        "outside); checked at the start of a run",
    )
    output_dir: Path = Field(Path("runs"), description="runs land in output_dir/<name>")

    @model_validator(mode="after")
    def _evaluations_at_checkpoints(self) -> TrainConfig:
        # A resumed run restarts at its last checkpoint; evaluations taken there are never
        # repeated, and the best generator is the one the checkpoint holds.
        if self.eval_every % self.checkpoint_every:
            raise ValueError(
                f"eval_every ({self.eval_every}) must be a multiple of "
                f"checkpoint_every ({self.checkpoint_every})"
            )
        if any(epoch < 1 for epoch in self.eval_epochs):
            raise ValueError(f"eval_epochs: epochs count from 1, got {list(self.eval_epochs)}")
        return self

    def checkpoints(self, epoch: int) -> bool:
        """Whether a checkpoint is due after `epoch` (an evaluated epoch always gets one)."""
        return epoch % self.checkpoint_every == 0 or epoch == self.epochs

    def evaluates(self, epoch: int) -> bool:
        """Whether the run measures FID/KID/SSIM after `epoch` (counting from 1)."""
        if epoch in self.eval_epochs:
            return True
        return self.eval_every > 0 and (epoch % self.eval_every == 0 or epoch == self.epochs)

    def evaluates_any(self) -> bool:
        return self.eval_every > 0 or bool(self.eval_epochs)


class MetricsConfig(Section):
    """How FID, KID and SSIM are measured (ganime_core/metrics)."""

    inception_weights: Path | None = Field(
        None,
        description="InceptionV3 no-top weights file; unset = $GANIME_INCEPTION_WEIGHTS, then the "
        "Keras cache (~/.keras/models)",
    )
    allow_untrained_backbone: bool = Field(
        False,
        description="without ImageNet weights, measure with a seeded untrained InceptionV3; its "
        "numbers carry the _untrained_inception mark (e.g. test_fid_untrained_inception)",
    )
    backbone_size: int = Field(
        256, ge=75, description="images are resized (bilinear) to this side for InceptionV3"
    )
    batch_size: int = Field(32, ge=1, description="images per feature-extraction batch")
    max_images: int | None = Field(
        None, ge=2, description="evaluate on the first N images of the split; unset = all"
    )
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    reference: Literal["random_train", "ground_truth", "same_palette"] = Field(
        "random_train",
        description="the colour image a reference-based method (NST, Fast NST, Style2paints) "
        "gets with each sketch: random_train = a draw from the train split's colour images, "
        "seeded by `seed` and the same for every method; ground_truth = the sketch's own colour "
        "image (an oracle: its metrics are logged as gt_ref_fid, gt_ref_ssim, ...); "
        "same_palette = another drawing in the sketch's palette (generated data's references/ "
        "folder): the target is the sketch in the reference's colours",
    )
    swap: bool = Field(
        False,
        description="a method with references, on data with part maps (generated data): also "
        "colorize each sketch with the next sketch's reference and log `swap`, how far the "
        "outputs' part colours move over how far the two references' palettes differ (1 = "
        "follows the reference, 0 = ignores it); doubles such a method's evaluation",
    )
    generator_mode: GeneratorMode = Field(
        "inference",
        description="how a trained generator (Pix2Pix, CycleGAN, Style2paints) runs while it "
        "is measured: inference = dropout off, BatchNorm on its moving statistics; training = "
        "dropout on, BatchNorm on each batch's own statistics, as the GANime authors' test "
        "script ran it (their test.py: model(x, training=True)). Either way the measuring "
        "leaves the weights, moving statistics and dropout RNG as they were",
    )


def check_mirror_url(url: str) -> str:
    """A mirror base URL as given, if it is http(s) with a host and no credentials; else
    ValueError. Credentials stay out because the URL is logged with a run's parameters."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http(s) URL (an S3 bucket is reached through its https endpoint)"
        )
    if parts.username or parts.password:
        raise ValueError("the mirror URL must not hold credentials: it is logged with each run")
    return url


class AssetsConfig(Section):
    """Where pretrained weights and models come from (ganime_core/assets.py)."""

    mirror: str | None = Field(
        None,
        description="http(s) base URL that replaces the public origins: <mirror>/<Keras file "
        "name>, <mirror>/<hub archive name>.tar.gz; $GANIME_ASSETS_MIRROR overrides it",
    )
    auto_fetch: bool = Field(
        True,
        description="download a missing asset when a run needs it (file-locked, hash-checked); "
        "false = stop with the `ganime assets fetch` command that provides it",
    )

    @field_validator("mirror")
    @classmethod
    def _http_mirror(cls, url: str | None) -> str | None:
        return None if url is None else check_mirror_url(url)


class ExperimentConfig(Section):
    name: str = Field(pattern=NAME_PATTERN)
    seed: int = Field(0, ge=0)
    data: DataConfig = DataConfig()
    model: ModelConfig
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()
    metrics: MetricsConfig = MetricsConfig()
    assets: AssetsConfig = AssetsConfig()

    @model_validator(mode="after")
    def _data_fits_family(self) -> ExperimentConfig:
        if self.model.paired and self.data.layout != "paired":
            raise ValueError(
                f"data.layout: {self.model.family} needs paired data; use layout: paired"
            )
        return self

    def require_trainable(self, what: str = "config") -> None:
        """ConfigError unless the model family is one that trains (NST and Fast NST do not)."""
        if not self.model.trainable:
            raise ConfigError(
                f"{what}: model.family {self.model.family} trains nothing: `ganime evaluate "
                "EXPERIMENT.yaml` measures it and `ganime colorize --reference` runs it"
            )

    @property
    def run_dir(self) -> Path:
        return self.train.output_dir / self.name

    def fingerprint(self, excluding: frozenset[str] = frozenset()) -> str:
        """Hash of everything that shapes the weights; a run resumes only under the same one.

        The epoch budget and where outputs go are left out, so a run may be extended or moved;
        so are precision and XLA, under which the same float32 weights train (a run prototyped
        in float32 resumes in mixed precision on a GPU). `excluding` leaves out more dotted
        keys: the schedulable ones a run takes another's state under (a PBT exploit).
        """
        shaping = self.model_dump(
            mode="json",
            exclude={
                "name": True,
                "data": {"cache_dir", "decoded_cache_mb"},
                "metrics": True,
                "assets": True,
                "train": {
                    "epochs",
                    "output_dir",
                    "checkpoint_every",
                    "eval_every",
                    "eval_epochs",
                    "keep_checkpoints",
                    "sample_images",
                    "precision",
                    "jit_compile",
                },
            },
        )
        if excluding:  # unset: the nested form every checkpoint written so far hashed
            shaping = {k: v for k, v in flatten(shaping).items() if k not in excluding}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]

    def schedulable_keys(self) -> frozenset[str]:
        """The dotted keys of this config a run may change between epochs (SCHEDULABLE)."""
        keys = set()
        for section_name in type(self).model_fields:
            section = getattr(self, section_name)
            if isinstance(section, BaseModel):
                for name, field in type(section).model_fields.items():
                    if (field.json_schema_extra or {}) == SCHEDULABLE:
                        keys.add(f"{section_name}.{name}")
        return frozenset(keys)

    def flat(self) -> dict[str, Any]:
        """Every value under its dotted name, e.g. {"model.lambda_tv": 0.0001}."""
        return flatten(self.model_dump(mode="json"))

    def replace(self, changes: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
        """A validated copy with each dotted key set, e.g. {"metrics.max_images": 40}: the one
        way a config is changed after loading. Unknown keys and bad values are ConfigErrors."""
        raw = self.model_dump(mode="json")
        for key, value in changes.items():
            set_dotted(raw, key, value.as_posix() if isinstance(value, Path) else value)
        return parse_config(raw, source=source)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one {"dotted.key": value}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`--set` arguments ("dotted.key=value", the value read as YAML) as {dotted key: value},
    for ExperimentConfig.replace or apply_overrides."""
    changes: dict[str, Any] = {}
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {override!r}: expected key=value, e.g. model.lambda_tv=1e-3")
        changes[key] = yaml.safe_load(text)
    return changes


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw file `raw` with each "dotted.key=value" set."""
    tree = copy.deepcopy(raw)
    for key, value in parse_overrides(overrides).items():
        set_dotted(tree, key, value, what=f"--set {key}")
    return tree


def set_dotted(tree: dict[str, Any], key: str, value: Any, what: str | None = None) -> None:
    """tree["a"]["b"] = value for key "a.b", creating sections as needed (in place)."""
    node = tree
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{what or key}: {part} is a value, not a section")
        node = child
    node[leaf] = value


def parse_config(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a raw dict; any problem becomes one ConfigError line naming the field."""
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML file, apply `--set` overrides, validate."""
    raw = read_yaml_mapping(path, "experiment", "name, data, model, ...")
    return parse_config(apply_overrides(raw, overrides or []), source=str(path))


def read_yaml_mapping(path: str | Path, kind: str, expected_keys: str) -> dict[str, Any]:
    """A YAML file's top-level mapping; a missing file or bad YAML is one ConfigError line."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind} file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({expected_keys})")
    return raw


def describe_validation_error(exc: ValidationError) -> str:
    """The first error as 'field.path: message'; pydantic's multi-line report is not for users."""
    error = exc.errors()[0]
    # Drop the union tag pydantic inserts ("model.pix2pix.lambda_tv" -> "model.lambda_tv").
    loc = [str(p) for p in error["loc"] if p not in FAMILY_NAMES]
    field = ".".join(loc) or "config"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against experiments/*.yaml)"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown model family {error['ctx']['tag']!r}; choose {', '.join(FAMILY_NAMES)}"
    elif error["type"] == "union_tag_not_found":
        message = f"missing model.family ({', '.join(FAMILY_NAMES)})"
    elif error["type"] not in ("missing", "value_error"):
        message = f"{message} (got {error['input']!r})"
    more = len(exc.errors()) - 1
    return f"{field}: {message}" + (f" (+{more} more)" if more else "")
