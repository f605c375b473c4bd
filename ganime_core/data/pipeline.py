"""tf.data input pipeline: Kaggle-layout files -> batches of {"sketch", "color"} in [-1, 1],
plus, for a family that trains after a reference (Style2paints), "reference" and, where that
reference is a fixed image per sketch (training_reference own or same_palette), "key": the
sketch's file index in train/, the row of its reference in `TrainingData.reference_pool`, so the
family can look a precomputed hint up instead of computing it every step.

Generated data also holds a same-palette reference per image (references/, see
ganime_core/data/synth.py): metrics.reference and training_reference `same_palette` read it.

Each epoch's order is a permutation drawn from (seed, epoch), and each example's jitter from
(seed, epoch, file index). So the data position of a run is just its epoch, a resumed run sees the
same batches as an uninterrupted one, and a data-parallel run sees the same global batches as a
single worker with the global batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import tensorflow as tf

from ganime_core.config import DataConfig, ExperimentConfig
from ganime_core.data.annotations import reference_path
from ganime_core.data.scan import SplitIndex, index_split
from ganime_core.data.synth import LAYOUT_VERSION, REFERENCES_FOLDER, write_synthetic_dataset
from ganime_core.errors import DataError
from ganime_core.splits import (
    SELECTION,
    TEST,
    TEST_FOLDER,
    TRAIN,
    TRAIN_FOLDER,
    folder_of,
    split_folders,
)

log = logging.getLogger(__name__)

# Which part of a file holds the image: the Kaggle layout puts colour left, sketch right.
WHOLE, LEFT, RIGHT = 0, 1, 2
JITTER_SCALE = 286 / 256
# The reference draw's random stream, apart from the epochs' permutations ([seed, epoch]).
REFERENCE_DRAW_STREAM = 2**31 - 1
# Which train files are carved for selection: a stream of data.selection_seed alone.
SELECTION_DRAW_STREAM = 2**31 - 2
# A jittered training reference: a crop of this fraction of the side, resized back, mirrored on
# a coin flip, its hue turned by up to this fraction of the colour circle.
REFERENCE_CROP = 7 / 8
REFERENCE_HUE = 0.1
# Training references that are one fixed image per sketch: its colour half, or its same-palette
# reference. Their batches carry "key", and reference_pool holds them.
POOLED_REFERENCES = ("own", "same_palette")
# What to use instead of same_palette when a data set has no references/, per setting.
_SAME_PALETTE_FIX = {
    "metrics.reference": "use random_train or ground_truth",
    "model.training_reference": "use own or jittered",
}

# The threads every input pipeline of this process decodes and augments with: the CPUs of the
# process that trains (train.configure_process), which on a GPU node are the node's CPUs per GPU.
# Unset, tf.data sizes its pool to every core of the machine, and the workers sharing a node
# would each take them all.
_input_threads: int | None = None


def set_input_threads(threads: int | None) -> None:
    """Size the tf.data thread pool of the pipelines this process builds from now on."""
    global _input_threads
    _input_threads = threads


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


def jitter_size(size: int) -> int:
    """The side both halves are resized to before the random crop: 286 for 256."""
    return round(size * JITTER_SCALE)


def resize(image: tf.Tensor, side: int) -> tf.Tensor:
    """Nearest-neighbour resize to side x side; uint8 stays uint8."""
    return tf.image.resize(image, [side, side], method="nearest")


def crop_and_flip(
    sketch: tf.Tensor, color: tf.Tensor, size: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """The random half of the jitter: one crop to `size` and one coin-flip mirror for both."""
    pair = tf.concat([sketch, color], axis=-1)  # (286, 286, 6): the halves stay aligned
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pair = tf.image.stateless_random_crop(pair, [size, size, 6], seed=crop_seed)
    pair = tf.image.stateless_random_flip_left_right(pair, seed=flip_seed)
    return pair[..., :3], pair[..., 3:]


def jittered_reference(color: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A copy of `color` (s, s, 3) in [-1, 1] that is no longer pixel-aligned with it: a
    random crop of REFERENCE_CROP of the side resized back (bilinear), a coin-flip mirror, and
    a random hue turn. The network sees the same style without a copy of the target."""
    size = color.shape[0]
    crop_seed, flip_seed, hue_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    side = round(size * REFERENCE_CROP)
    image = tf.image.stateless_random_crop((color + 1.0) / 2.0, [side, side, 3], seed=crop_seed)
    image = tf.image.resize(image, [size, size], method="bilinear")
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = tf.image.stateless_random_hue(image, REFERENCE_HUE, seed=hue_seed)
    return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0


def load_pair(
    sketch_path: tf.Tensor,
    sketch_part: tf.Tensor,
    color_path: tf.Tensor,
    color_part: tf.Tensor,
    side: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Read, decode and resize (nearest) one example's sketch and colour; a file holding both
    is decoded once."""
    color_file = decode_rgb(tf.io.read_file(color_path))
    sketch_file = tf.cond(
        sketch_path == color_path,
        lambda: color_file,
        lambda: decode_rgb(tf.io.read_file(sketch_path)),
    )
    return (
        resize(take_part(sketch_file, sketch_part), side),
        resize(take_part(color_file, color_part), side),
    )


def decode_files(
    files: Sequence[Path | str], parts: tuple[int, ...], side: int
) -> list[np.ndarray]:
    """For each part, a uint8 (len(files), side, side, 3) array of that part of every file, in
    file order; each file is decoded once."""

    def load(path: tf.Tensor) -> tuple[tf.Tensor, ...]:
        image = decode_rgb(tf.io.read_file(path))
        return tuple(resize(take_part(image, part), side) for part in parts)

    dataset = tf.data.Dataset.from_tensor_slices([str(path) for path in files]).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    batches = [[image.numpy() for image in batch] for batch in dataset.batch(256)]
    return [np.concatenate(column) for column in zip(*batches, strict=True)]


@dataclass(frozen=True)
class DecodedImages:
    """A split's images decoded and resized, indexed by file index (Examples.key/color_key)."""

    sketch: np.ndarray  # uint8 (sketch files, side, side, 3)
    color: np.ndarray  # uint8 (colour files, side, side, 3)
    # uint8 (sketch files, image_size, image_size, 3): same_palette training references, which
    # are never jittered; None for other training references
    reference: np.ndarray | None = None


@dataclass(frozen=True)
class Examples:
    """Where each example's sketch and colour come from, in the order they are served."""

    sketch_path: np.ndarray
    sketch_part: np.ndarray
    color_path: np.ndarray
    color_part: np.ndarray
    # the sketch's file index: its jitter seed whatever the order or shard, and its row in
    # TrainingData.reference_pool
    key: np.ndarray
    color_key: np.ndarray  # the colour's file index (the same file as the sketch when paired)

    def __len__(self) -> int:
        return len(self.key)

    def select(self, rows: np.ndarray | slice) -> Examples:
        return Examples(*(column[rows] for column in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (
            self.sketch_path,
            self.sketch_part,
            self.color_path,
            self.color_part,
            self.key,
            self.color_key,
        )


def data_root(data: DataConfig) -> Path:
    """The folder to read: `data.path`, or generated data in the cache, written on first use.

    The cache folder names the palette mode and the layout version (LAYOUT_VERSION), so a
    folder written before references/ and parts/ existed is never read as if it had them.
    """
    if data.path is not None:
        return data.path
    synthetic = data.synthetic
    name = (
        f"n{synthetic.count}-s{data.image_size}-seed{synthetic.seed}-{synthetic.palette}"
        f"-v{LAYOUT_VERSION}"
    )
    root = data.cache_dir / "synthetic" / name
    if not (root / "train").is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        # Another worker on this node may write it first: same seed, same bytes.
        with contextlib.suppress(FileExistsError):
            write_synthetic_dataset(
                root, synthetic.count, data.image_size, synthetic.seed, synthetic.palette
            )
    return root


def _sized(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` on this process's input threads (set_input_threads), where they are set."""
    if _input_threads is None:
        return dataset
    options = tf.data.Options()
    options.threading.private_threadpool_size = _input_threads
    return dataset.with_options(options)


def selection_rows(files: int, size: float | int, seed: int) -> np.ndarray:
    """Which of a train folder's `files` (file indices, sorted) form the selection split: a
    seeded draw of `size` (a fraction, at least 2, or a count) that leaves a training image."""
    count = size if isinstance(size, int) else max(2, round(size * files))
    if count >= files:
        raise DataError(
            f"data.selection: {count} selection images leave none of the {files} in train/ to "
            "train on; lower data.selection or add images"
        )
    rng = np.random.default_rng([seed, SELECTION_DRAW_STREAM])
    return np.sort(rng.permutation(files)[:count])


class TrainingData:
    """An experiment's data: its three splits (ganime_core/splits.py) over the data set's two
    folders, and the datasets built from them.

    A folder is scanned when a split that reads it is first used: training, and so every
    decision made while training or sweeping, never opens the test folder.
    """

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.root = data_root(config.data)
        self.paired_files = config.data.layout == "paired"
        self.paired_examples = config.model.paired
        self._folders: dict[str, tuple[SplitIndex, ...]] = {}
        self._decoded: dict[tuple[str, int], DecodedImages | None] = {}
        self._references: dict[str, tuple[SplitIndex, np.ndarray]] = {}
        # own, jittered or same_palette for a family that trains after a reference, else None
        self.training_reference: str | None = config.model.training_reference
        self.num_train = min(len(rows) for rows in self.rows(TRAIN))
        self.steps_per_epoch = self.num_train // config.train.batch_size
        if self.steps_per_epoch == 0 and config.model.trainable:  # NST only draws references
            raise DataError(
                f"{self.num_train} training images in {self.root} are fewer than one batch of "
                f"{config.train.batch_size}; lower train.batch_size or add images"
            )

    def folder(self, name: str) -> tuple[SplitIndex, ...]:
        """The scanned sub-folders of the data set's folder `name` (train or val): one if paired,
        the sketch and the colour domain if not."""
        if name not in self._folders:
            data = self.config.data
            self._folders[name] = tuple(
                index_split(
                    self.root / folder,
                    paired=self.paired_files,
                    image_size=data.image_size,
                    cache_dir=data.cache_dir,
                )
                for folder in split_folders(data.layout, name)
            )
        return self._folders[name]

    def rows(self, split: str) -> tuple[np.ndarray, ...]:
        """The file indices of `split` in each sub-folder of its folder, sorted."""
        indices = self.folder(folder_of(split))
        if split == TEST:
            return tuple(np.arange(len(index)) for index in indices)
        data = self.config.data
        chosen = [
            selection_rows(len(index), data.selection, data.selection_seed) for index in indices
        ]
        if split == SELECTION:
            return tuple(chosen)
        return tuple(
            np.setdiff1d(np.arange(len(index)), rows)
            for index, rows in zip(indices, chosen, strict=True)
        )

    @property
    def content_hash(self) -> str:
        """Hash of what training reads: every usable train file's name and bytes, and which of
        them are carved for selection."""
        return self.split_hash(TRAIN)

    def split_hash(self, split: str) -> str:
        """Hash of `split`'s files (names and bytes) and of which of them the split holds."""
        parts = [index.content_hash for index in self.folder(folder_of(split))]
        parts += [hashlib.sha256(rows.tobytes()).hexdigest() for rows in self.rows(split)]
        if split != TEST:  # train and selection: one carving, one hash
            parts += [hashlib.sha256(r.tobytes()).hexdigest() for r in self.rows(SELECTION)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def describe(self) -> list[str]:
        """One line per scanned folder: counts and any skipped or converted files, and the
        train folder's split into train and selection."""
        lines = [index.describe() for name in self._folders for index in self._folders[name]]
        train, selection = (min(len(rows) for rows in self.rows(s)) for s in (TRAIN, SELECTION))
        data = self.config.data
        lines.append(
            f"splits: {train} train, {selection} selection (data.selection {data.selection}, "
            f"seed {data.selection_seed}); test: {TEST_FOLDER}/, read only by promote, evaluate "
            "and compare"
        )
        return lines

    def examples(self, split: str, epoch: int | None) -> Examples:
        """The split's examples, permuted for `epoch` (None: in file order, for evaluation).

        Pairs stay pairs for paired families; unpaired families draw sketches and colours through
        independent permutations, even from paired files.
        """
        seed = self.config.seed
        indices = self.folder(folder_of(split))
        rows = self.rows(split)
        sketch_index, color_index = (indices[0], indices[0]) if self.paired_files else indices
        sketch_rows, color_rows = (rows[0], rows[0]) if self.paired_files else rows
        n_sketch, n_color = len(sketch_rows), len(color_rows)
        if epoch is None:
            a, b = np.arange(n_sketch), np.arange(n_color)
        elif self.paired_examples:
            a = b = np.random.default_rng([seed, epoch]).permutation(n_sketch)
        else:
            a = np.random.default_rng([seed, epoch, 0]).permutation(n_sketch)
            b = np.random.default_rng([seed, epoch, 1]).permutation(n_color)
        n = min(len(a), len(b))
        # Positions in the split -> file indices in the folder: a file keeps its jitter seed
        # and its place in the decoded images whichever split it is in.
        a, b = sketch_rows[a[:n]], color_rows[b[:n]]
        sketch_files = np.array([str(p) for p in sketch_index.files])
        color_files = np.array([str(p) for p in color_index.files])
        sketch_part, color_part = (RIGHT, LEFT) if self.paired_files else (WHOLE, WHOLE)
        return Examples(
            sketch_path=sketch_files[a],
            sketch_part=np.full(n, sketch_part, np.int32),
            color_path=color_files[b],
            color_part=np.full(n, color_part, np.int32),
            key=a.astype(np.int64),
            color_key=b.astype(np.int64),
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
            self._dataset("train", shard, epoch=epoch)
            .batch(per_replica, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )

    def eval_dataset(
        self,
        split: str,
        batch_size: int = 32,
        limit: int | None = None,
        *,
        start: int = 0,
        reference: str | None = None,
        swapped: bool = False,
    ):
        """The split's examples start..limit in file order, without jitter; pairs are true pairs
        for paired files. `reference` (a metrics.reference policy) adds each example's
        reference colour image as "reference"; `swapped` also the next example's reference
        (`swapped_reference_files`) as "swapped_reference"."""
        rows = slice(start, limit)
        examples = self.examples(split, epoch=None).select(rows)
        dataset = self._dataset(split, examples, epoch=None)
        if reference is not None:
            size = self.config.data.image_size

            def load(path: tf.Tensor, part: tf.Tensor) -> tf.Tensor:
                image = take_part(decode_rgb(tf.io.read_file(path)), part)
                return tf.ensure_shape(to_float(resize(image, size)), [size, size, 3])

            columns = {"reference": self.reference_files(split, reference)}
            if swapped:
                columns["swapped_reference"] = self.swapped_reference_files(split, reference)
            for name, (paths, parts) in columns.items():
                images = tf.data.Dataset.from_tensor_slices((paths[rows], parts[rows])).map(
                    load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
                )
                dataset = tf.data.Dataset.zip(dataset, images).map(
                    lambda example, image, name=name: {**example, name: image}
                )
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def swapped_reference_files(self, split: str, policy: str) -> tuple[np.ndarray, np.ndarray]:
        """(path, part) of each example's swapped reference, for the swap metric: the next
        example's reference in the split's file order (the last takes the first's), so every
        sketch gets another sketch's reference whatever rows a shard measures."""
        paths, parts = self.reference_files(split, policy)
        return np.roll(paths, -1), np.roll(parts, -1)

    def reference_files(self, split: str, policy: str) -> tuple[np.ndarray, np.ndarray]:
        """(path, part) of each example's reference colour image, in the split's file order.

        random_train: a draw from the train split's colour images, seeded by `seed` alone, so
        every method and every run with that seed gives the i-th sketch the same reference
        (the paper's code drew unseeded); ground_truth: the example's own colour image;
        same_palette: the WHOLE image references/<folder>/<the sketch file's stem>.png, another
        drawing in the sketch's palette (generated data only).
        """
        examples = self.examples(split, epoch=None)
        if policy == "same_palette":
            _, paths = self.same_palette_references(folder_of(split), "metrics.reference")
            return paths[examples.key], np.full(len(examples), WHOLE, np.int32)
        if policy == "ground_truth":
            if not self.paired_files:
                raise DataError(
                    "metrics.reference: ground_truth needs paired files (a sketch's own colour "
                    "image); use random_train"
                )
            return examples.color_path, examples.color_part
        train = self.examples("train", epoch=None)
        draw = np.random.default_rng([self.config.seed, REFERENCE_DRAW_STREAM]).integers(
            0, len(train), len(examples)
        )
        return train.color_path[draw], train.color_part[draw]

    def same_palette_references(self, folder: str, setting: str) -> tuple[SplitIndex, np.ndarray]:
        """The scanned references/<folder>/ and, by file index of `folder`'s sketches, the path
        of each one's same-palette reference; `setting` (the option that asked) names the cause
        in a DataError when the data set has none."""
        if folder not in self._references:
            references = self.root / REFERENCES_FOLDER / folder
            fix = _SAME_PALETTE_FIX[setting]
            if not references.is_dir():
                raise DataError(
                    f"{setting}: same_palette needs a data set with a {REFERENCES_FOLDER}/ "
                    f"folder: generated data has one; {self.root} has no "
                    f"{REFERENCES_FOLDER}/{folder}/ ({fix})"
                )
            data = self.config.data
            index = index_split(
                references, paired=False, image_size=data.image_size, cache_dir=data.cache_dir
            )
            usable = {path.name: str(path) for path in index.files}
            files = self.folder(folder)[0].files
            names = [reference_path(self.root, folder, file).name for file in files]
            missing = [
                file.name for file, name in zip(files, names, strict=True) if name not in usable
            ]
            if missing:
                raise DataError(
                    f"{setting}: {len(missing)} of the {len(files)} images in {folder}/ have no "
                    f"usable reference in {references} (first: {missing[0]}; "
                    f"{index.describe()}); write the data set again or {fix}"
                )
            self._references[folder] = (index, np.array([usable[name] for name in names]))
        return self._references[folder]

    def reference_pool(self, kind: Literal["reference", "color"]) -> np.ndarray:
        """uint8 (train files, image_size, image_size, 3): row i is train/ file i's training
        reference (kind "reference": its colour half for training_reference own, its
        same-palette reference for same_palette) or its colour half (kind "color"), never
        jittered; Examples.key and a batch's "key" index it."""
        paths, part, _ = self._pool_source(kind)
        size = self.config.data.image_size
        # The training images may already be in memory at this size (no jitter).
        decoded = self._decoded.get((TRAIN_FOLDER, size))
        if decoded is not None:
            kept = decoded.reference if part == WHOLE else decoded.color
            if kept is not None:
                return kept
        (images,) = decode_files(paths, (part,), size)
        return images

    def pool_hash(self, kind: Literal["reference", "color"]) -> str:
        """Hash of the files (names and bytes) that fill reference_pool(kind), which part of
        them it reads and the image size: a key for a cache of what is computed from it."""
        _, part, content_hash = self._pool_source(kind)
        text = f"{content_hash}\npart {part}\nsize {self.config.data.image_size}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _pool_source(self, kind: str) -> tuple[list[str], int, str]:
        """(paths, part, content hash of their folder) of the images reference_pool(kind) reads."""
        if kind not in ("reference", "color"):
            raise ValueError(f"kind must be 'reference' or 'color', not {kind!r}")
        if kind == "reference" and self.training_reference not in POOLED_REFERENCES:
            raise ValueError(
                f"training_reference {self.training_reference!r} has no pool: only "
                f"{' and '.join(POOLED_REFERENCES)} give each sketch one fixed reference"
            )
        if kind == "reference" and self.training_reference == "same_palette":
            index, paths = self.same_palette_references(TRAIN_FOLDER, "model.training_reference")
            return list(paths), WHOLE, index.content_hash
        if not self.paired_files:
            raise ValueError("a pool of colour halves needs paired files (row i: file i's half)")
        index = self.folder(TRAIN_FOLDER)[0]
        return [str(path) for path in index.files], LEFT, index.content_hash

    def _dataset(self, split: str, examples: Examples, epoch: int | None) -> tf.data.Dataset:
        size = self.config.data.image_size
        jitter = epoch is not None and self.config.data.jitter
        side = jitter_size(size) if jitter else size
        epoch_seed = tf.constant([self.config.seed, epoch or 0], tf.int64)
        folder = folder_of(split)

        # A family that trains after a reference gets one with every training example, and
        # the sketch's file index as "key" when that reference is one fixed image per sketch.
        training_reference = self.training_reference if epoch is not None else None
        keyed = training_reference in POOLED_REFERENCES
        same_palette = training_reference == "same_palette"

        def finish(sketch, color, key, reference=None):
            seed = tf.random.experimental.stateless_fold_in(epoch_seed, key)
            if jitter:
                sketch, color = crop_and_flip(sketch, color, size, seed)
            example = {
                "sketch": tf.ensure_shape(to_float(sketch), [size, size, 3]),
                "color": tf.ensure_shape(to_float(color), [size, size, 3]),
            }
            if training_reference == "own":
                example["reference"] = example["color"]  # jittered with it, when data.jitter
            elif training_reference == "jittered":
                reference_seed = tf.random.experimental.stateless_fold_in(
                    seed, REFERENCE_DRAW_STREAM
                )
                example["reference"] = jittered_reference(example["color"], reference_seed)
            elif same_palette:  # another drawing: nothing to align, so never jittered
                example["reference"] = tf.ensure_shape(
                    to_float(resize(reference, size)), [size, size, 3]
                )
            if keyed:
                example["key"] = key
            return example

        decoded = self._decoded_images(folder, side) if epoch is not None else None
        if decoded is not None:
            columns = (
                decoded.sketch[examples.key],
                decoded.color[examples.color_key],
                examples.key,
            )
            if same_palette:
                columns += (decoded.reference[examples.key],)
            dataset = tf.data.Dataset.from_tensor_slices(columns)
            return _sized(
                dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            )

        def load(sketch_path, sketch_part, color_path, color_part, key, color_key, *reference):
            sketch, color = load_pair(sketch_path, sketch_part, color_path, color_part, side)
            if same_palette:
                return finish(sketch, color, key, decode_rgb(tf.io.read_file(reference[0])))
            return finish(sketch, color, key)

        columns = examples._columns()
        if same_palette:
            _, references = self.same_palette_references(folder, "model.training_reference")
            columns += (references[examples.key],)
        dataset = tf.data.Dataset.from_tensor_slices(columns)
        return _sized(dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))

    def _decoded_images(self, folder: str, side: int) -> DecodedImages | None:
        """Every file of the data set's `folder` decoded and resized to `side` (and, for
        same_palette training, every reference at image_size), kept in memory when that fits
        in `data.decoded_cache_mb`: later epochs then skip decoding, which on few CPU cores and
        large source files (the Kaggle set's 1024x512 JPEGs for 64 px training) slows the step
        it competes with by several percent. The batches are the same either way."""
        if (folder, side) not in self._decoded:
            files = sum(len(index) for index in self.folder(folder))
            halves = files * (2 if self.paired_files else 1)
            megabytes = halves * side * side * 3 / 2**20
            if self.training_reference == "same_palette":
                size = self.config.data.image_size
                megabytes += len(self.folder(folder)[0]) * size * size * 3 / 2**20
            decoded = None
            if megabytes <= self.config.data.decoded_cache_mb:
                decoded = self._decode_folder(folder, side)
                log.info(
                    "data %s/: %d files kept decoded at %d px (%.0f MB)",
                    folder,
                    files,
                    side,
                    megabytes,
                )
            self._decoded[(folder, side)] = decoded
        return self._decoded[(folder, side)]

    def _decode_folder(self, folder: str, side: int) -> DecodedImages:
        indices = self.folder(folder)
        if self.paired_files:
            sketch, color = decode_files(indices[0].files, (RIGHT, LEFT), side)
        else:
            (sketch,), (color,) = (decode_files(index.files, (WHOLE,), side) for index in indices)
        reference = None
        if self.training_reference == "same_palette":
            _, paths = self.same_palette_references(folder, "model.training_reference")
            (reference,) = decode_files(paths, (WHOLE,), self.config.data.image_size)
        return DecodedImages(sketch, color, reference)
