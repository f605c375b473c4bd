"""tf.data input pipeline: Kaggle-layout files -> batches of {"sketch", "color"} in [-1, 1].

Each epoch's order is a permutation drawn from (seed, epoch), and each example's jitter from
(seed, epoch, file index). So the data position of a run is just its epoch, a resumed run sees the
same batches as an uninterrupted one, and a data-parallel run sees the same global batches as a
single worker with the global batch.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ganime_core.config import DataConfig, ExperimentConfig, split_folders
from ganime_core.data.scan import SplitIndex, index_split
from ganime_core.data.synth import write_synthetic_dataset
from ganime_core.errors import DataError

# Which part of a file holds the image: the Kaggle layout puts colour left, sketch right.
WHOLE, LEFT, RIGHT = 0, 1, 2
JITTER_SCALE = 286 / 256


def decode_rgb(data: tf.Tensor) -> tf.Tensor:
    """PNG/JPEG bytes -> uint8 (H, W, 3): grayscale replicated, alpha composited over white."""
    image = tf.io.decode_image(data, channels=0, expand_animations=False)

    def over_white(rgb: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
        a = tf.cast(alpha, tf.float32) / 255.0
        blended = tf.cast(rgb, tf.float32) * a + 255.0 * (1.0 - a)
        return tf.cast(tf.round(blended), tf.uint8)

    def gray() -> tf.Tensor:
        return tf.tile(image[..., :1], [1, 1, 3])

    rgb = tf.switch_case(
        tf.shape(image)[-1] - 1,
        [
            gray,
            lambda: over_white(gray(), image[..., 1:2]),
            lambda: image[..., :3],
            lambda: over_white(image[..., :3], image[..., 3:4]),
        ],
    )
    return tf.ensure_shape(rgb, [None, None, 3])


def take_part(image: tf.Tensor, part: tf.Tensor) -> tf.Tensor:
    """The WHOLE image, or its LEFT/RIGHT half; an odd width drops the middle column."""
    width = tf.shape(image)[1]
    half = width // 2
    start = tf.where(part == RIGHT, width - half, 0)
    size = tf.where(part == WHOLE, width, half)
    return image[:, start : start + size]


def to_float(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """float32 [-1, 1] -> uint8 [0, 255], for files, MLflow images and the CLI."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def random_jitter(
    sketch: tf.Tensor, color: tf.Tensor, size: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Resize both to 286/256 of `size`, then one random crop and one coin-flip mirror for both."""
    big = round(size * JITTER_SCALE)
    pair = tf.concat(
        [
            tf.image.resize(sketch, [big, big], method="nearest"),
            tf.image.resize(color, [big, big], method="nearest"),
        ],
        axis=-1,
    )  # (286, 286, 6): cropping and flipping the stack keeps the halves aligned
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pair = tf.image.stateless_random_crop(pair, [size, size, 6], seed=crop_seed)
    pair = tf.image.stateless_random_flip_left_right(pair, seed=flip_seed)
    return pair[..., :3], pair[..., 3:]


@dataclass(frozen=True)
class Examples:
    """Where each example's sketch and colour come from, in the order they are served."""

    sketch_path: np.ndarray
    sketch_part: np.ndarray
    color_path: np.ndarray
    color_part: np.ndarray
    key: np.ndarray  # the sketch's file index: its jitter seed, whatever the order or shard

    def __len__(self) -> int:
        return len(self.key)

    def select(self, rows: np.ndarray | slice) -> Examples:
        return Examples(*(column[rows] for column in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self.sketch_path, self.sketch_part, self.color_path, self.color_part, self.key


def data_root(data: DataConfig) -> Path:
    """The folder to read: `data.path`, or generated data in the cache, written on first use."""
    if data.path is not None:
        return data.path
    synthetic = data.synthetic
    root = (
        data.cache_dir
        / "synthetic"
        / (f"n{synthetic.count}-s{data.image_size}-seed{synthetic.seed}")
    )
    if not (root / "train").is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        # Another worker on this node may write it first: same seed, same bytes.
        with contextlib.suppress(FileExistsError):
            write_synthetic_dataset(root, synthetic.count, data.image_size, synthetic.seed)
    return root


class TrainingData:
    """The scanned train and val splits of an experiment and the datasets built from them."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.root = data_root(config.data)
        data = config.data
        self.paired_files = data.layout == "paired"
        self.paired_examples = config.model.paired
        self.splits: dict[str, tuple[SplitIndex, ...]] = {
            split: tuple(
                index_split(
                    self.root / folder,
                    paired=self.paired_files,
                    image_size=data.image_size,
                    cache_dir=data.cache_dir,
                )
                for folder in split_folders(data.layout, split)
            )
            for split in ("train", "val")
        }
        self.num_train = min(len(index) for index in self.splits["train"])
        self.steps_per_epoch = self.num_train // config.train.batch_size
        if self.steps_per_epoch == 0:
            raise DataError(
                f"{self.num_train} training images in {self.root} are fewer than one batch of "
                f"{config.train.batch_size}; lower train.batch_size or add images"
            )

    @property
    def content_hash(self) -> str:
        """Hash of every usable file's name and bytes, train and val."""
        parts = [index.content_hash for split in ("train", "val") for index in self.splits[split]]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def describe(self) -> list[str]:
        """One line per scanned folder: counts and any skipped or converted files."""
        return [index.describe() for split in ("train", "val") for index in self.splits[split]]

    def examples(self, split: str, epoch: int | None) -> Examples:
        """The split's examples, permuted for `epoch` (None: in file order, for evaluation).

        Pairs stay pairs for paired families; unpaired families draw sketches and colours through
        independent permutations, even from paired files.
        """
        seed = self.config.seed
        indices = self.splits[split]
        sketch_index, color_index = (indices[0], indices[0]) if self.paired_files else indices
        n_sketch, n_color = len(sketch_index), len(color_index)
        if epoch is None:
            a, b = np.arange(n_sketch), np.arange(n_color)
        elif self.paired_examples:
            a = b = np.random.default_rng([seed, epoch]).permutation(n_sketch)
        else:
            a = np.random.default_rng([seed, epoch, 0]).permutation(n_sketch)
            b = np.random.default_rng([seed, epoch, 1]).permutation(n_color)
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
        sketch_files = np.array([str(p) for p in sketch_index.files])
        color_files = np.array([str(p) for p in color_index.files])
        sketch_part, color_part = (RIGHT, LEFT) if self.paired_files else (WHOLE, WHOLE)
        return Examples(
            sketch_path=sketch_files[a],
            sketch_part=np.full(n, sketch_part, np.int32),
            color_path=color_files[b],
            color_part=np.full(n, color_part, np.int32),
            key=a.astype(np.int64),
        )

    def train_dataset(
        self, epoch: int, context: tf.distribute.InputContext | None = None
    ) -> tf.data.Dataset:
        """This input pipeline's share of `epoch`, batched per replica, exactly steps_per_epoch
        batches per replica; pass to `strategy.distribute_datasets_from_function`."""
        context = context or tf.distribute.InputContext()
        global_batch = self.config.train.batch_size
        per_replica = context.get_per_replica_batch_size(global_batch)
        # Pipeline k takes examples k, k+P, k+2P, ...: the union of one step's batches over all
        # pipelines is the same global batch a single worker would see.
        shard = self.examples("train", epoch).select(
            slice(context.input_pipeline_id, None, context.num_input_pipelines)
        )
        per_pipeline = self.steps_per_epoch * global_batch // context.num_input_pipelines
        shard = shard.select(slice(0, per_pipeline))
        return (
            self._dataset(shard, epoch=epoch)
            .batch(per_replica, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )

    def eval_dataset(self, split: str = "val", batch_size: int = 32, limit: int | None = None):
        """The split in file order, without jitter; pairs are true pairs for paired files."""
        examples = self.examples(split, epoch=None)
        examples = examples.select(slice(0, limit))
        return self._dataset(examples, epoch=None).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def _dataset(self, examples: Examples, epoch: int | None) -> tf.data.Dataset:
        size = self.config.data.image_size
        jitter = epoch is not None and self.config.data.jitter
        epoch_seed = tf.constant([self.config.seed, epoch or 0], tf.int64)

        def load(sketch_path, sketch_part, color_path, color_part, key):
            color_file = decode_rgb(tf.io.read_file(color_path))
            sketch_file = tf.cond(
                sketch_path == color_path,
                lambda: color_file,
                lambda: decode_rgb(tf.io.read_file(sketch_path)),
            )
            sketch = take_part(sketch_file, sketch_part)
            color = take_part(color_file, color_part)
            if jitter:
                seed = tf.random.experimental.stateless_fold_in(epoch_seed, key)
                sketch, color = random_jitter(sketch, color, size, seed)
            else:
                sketch = tf.image.resize(sketch, [size, size], method="nearest")
                color = tf.image.resize(color, [size, size], method="nearest")
            return {
                "sketch": tf.ensure_shape(to_float(sketch), [size, size, 3]),
                "color": tf.ensure_shape(to_float(color), [size, size, 3]),
            }

        dataset = tf.data.Dataset.from_tensor_slices(examples._columns())
        return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
