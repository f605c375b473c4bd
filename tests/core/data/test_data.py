"""The input pipeline: splitting, jitter, sharding, every kind of bad input file, and the
same-palette references, keys and reference pools of generated data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganime_core.config import parse_config
from ganime_core.data.pipeline import (
    LEFT,
    RIGHT,
    WHOLE,
    TrainingData,
    crop_and_flip,
    data_root,
    decode_rgb,
    jitter_size,
    resize,
    take_part,
    to_float,
    to_uint8,
)
from ganime_core.data.scan import index_split
from ganime_core.data.synth import LAYOUT_VERSION, write_synthetic_dataset
from ganime_core.errors import DataError

SIZE = 32


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def pair_image(rng: np.random.Generator, height: int = SIZE, width: int = 2 * SIZE) -> np.ndarray:
    """Colour left, 'sketch' right: random noise so any misalignment shows."""
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def config_for(root: Path, cache: Path, **model) -> object:
    return parse_config(
        {
            "name": "t",
            "data": {"path": str(root), "image_size": SIZE, "cache_dir": str(cache)},
            "model": {"family": "pix2pix", **model},
            "train": {"batch_size": 2},
        }
    )


@pytest.fixture
def kaggle_folder(tmp_path: Path) -> Path:
    """A Kaggle-layout folder with 8 good pairs in train/ (6 train, 2 carved for selection by
    the default data.selection) and 2 in val/ (the test split)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 2)):
        (tmp_path / "data" / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(pair_image(rng)).save(tmp_path / "data" / split / f"{i:03d}.png")
    return tmp_path / "data"


# --- decoding and splitting -------------------------------------------------------------------


def test_split_at_midpoint_colour_left_sketch_right() -> None:
    image = tf.constant(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    np.testing.assert_array_equal(take_part(image, LEFT), image[:, :3])
    np.testing.assert_array_equal(take_part(image, RIGHT), image[:, 3:])
    np.testing.assert_array_equal(take_part(image, WHOLE), image)


def test_odd_width_drops_the_middle_column() -> None:
    image = tf.constant(np.arange(2 * 7 * 3, dtype=np.uint8).reshape(2, 7, 3))
    np.testing.assert_array_equal(take_part(image, LEFT), image[:, :3])
    np.testing.assert_array_equal(take_part(image, RIGHT), image[:, 4:])


def test_grayscale_is_replicated_to_rgb() -> None:
    gray = np.random.default_rng(1).integers(0, 256, (5, 6), dtype=np.uint8)
    rgb = decode_rgb(tf.constant(encode(gray))).numpy()
    assert rgb.shape == (5, 6, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)


def test_rgba_is_composited_over_white() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red stays red
    rgba[0, 1] = (0, 0, 0, 0)  # transparent black becomes white
    rgba[1, 0] = (0, 0, 0, 128)  # half-transparent black becomes mid gray
    rgb = decode_rgb(tf.constant(encode(rgba))).numpy()
    np.testing.assert_array_equal(rgb[0, 0], (255, 0, 0))
    np.testing.assert_array_equal(rgb[0, 1], (255, 255, 255))
    assert np.all(np.abs(rgb[1, 0].astype(int) - 127) <= 1)


def test_uint8_float_round_trip() -> None:
    pixels = tf.constant(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1))
    as_float = to_float(pixels)
    assert float(tf.reduce_min(as_float)) == -1.0 and float(tf.reduce_max(as_float)) == 1.0
    np.testing.assert_array_equal(to_uint8(as_float), pixels)


# --- jitter -----------------------------------------------------------------------------------


def random_jitter(
    sketch: tf.Tensor, color: tf.Tensor, size: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """The pipeline's jitter of one pair: both loaded at jitter_size (286 for 256), then one
    random crop and one coin-flip mirror for both."""
    big = jitter_size(size)
    return crop_and_flip(resize(sketch, big), resize(color, big), size, seed)


def test_jitter_applies_the_same_crop_and_flip_to_both_halves() -> None:
    rng = np.random.default_rng(2)
    image = tf.constant(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    flips = set()
    for key in range(40):
        seed = tf.constant([7, key], tf.int64)
        sketch, color = random_jitter(image, image, SIZE, seed)
        assert sketch.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(sketch, color)  # identical inputs stay identical
        # Which jitter happened: find the crop in the 286/256-resized image, flipped or not.
        big = tf.image.resize(image, [36, 36], method="nearest").numpy()
        crops = {
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if np.array_equal(
                (
                    big[dy : dy + SIZE, dx : dx + SIZE][:, ::-1]
                    if flip
                    else big[dy : dy + SIZE, dx : dx + SIZE]
                ),
                sketch.numpy(),
            )
        }
        assert crops, "output is not a crop of the resized image"
        flips |= {flip for _, _, flip in crops}
    assert flips == {False, True}  # both mirrored and plain crops occur


def test_jitter_is_a_function_of_its_seed() -> None:
    image = tf.constant(np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    a = random_jitter(image, image, SIZE, tf.constant([1, 2], tf.int64))[0]
    b = random_jitter(image, image, SIZE, tf.constant([1, 2], tf.int64))[0]
    others = [
        random_jitter(image, image, SIZE, tf.constant([1, k], tf.int64))[0] for k in range(3, 9)
    ]
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, other) for other in others)


def test_training_pairs_stay_aligned_through_the_pipeline(kaggle_folder: Path, tmp_path) -> None:
    """Files whose two halves are identical must give sketch == colour after jitter."""
    rng = np.random.default_rng(4)
    for path in (kaggle_folder / "train").iterdir():
        half = pair_image(rng, SIZE, SIZE)
        Image.fromarray(np.concatenate([half, half], axis=1)).save(path)
    data = TrainingData(config_for(kaggle_folder, tmp_path / "cache"))
    for batch in data.train_dataset(epoch=0):
        np.testing.assert_array_equal(batch["sketch"], batch["color"])
        assert batch["sketch"].shape == (2, SIZE, SIZE, 3)
        assert batch["sketch"].dtype == tf.float32
        assert (
            -1.0
            <= float(tf.reduce_min(batch["sketch"]))
            <= float(tf.reduce_max(batch["sketch"]))
            <= 1.0
        )


# --- order, epochs, shards ------------------------------------------------------------------------


def test_epoch_order_is_seeded_and_changes_per_epoch(kaggle_folder: Path, tmp_path) -> None:
    data = TrainingData(config_for(kaggle_folder, tmp_path / "cache"))
    first = data.examples("train", epoch=0).key
    np.testing.assert_array_equal(
        first, TrainingData(config_for(kaggle_folder, tmp_path / "c2")).examples("train", 0).key
    )
    assert sorted(first) == list(data.rows("train")[0]) and len(first) == 6
    assert any(not np.array_equal(first, data.examples("train", e).key) for e in range(1, 5))


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_decoded_images_in_memory_give_the_same_batches_as_decoding_files(
    kaggle_folder: Path, tmp_path, family: str
) -> None:
    """The memory cache only saves decoding: every epoch's batches stay bit-identical."""

    def batches(cache_mb: int) -> tuple[list[np.ndarray], TrainingData]:
        raw = config_for(kaggle_folder, tmp_path / "cache", family=family).model_dump(mode="json")
        raw["data"]["decoded_cache_mb"] = cache_mb
        data = TrainingData(parse_config(raw))
        return [
            np.concatenate([b["sketch"].numpy(), b["color"].numpy()], axis=-1)
            for epoch in (0, 1)
            for b in data.train_dataset(epoch)
        ], data

    from_files, data_files = batches(0)
    from_memory, data_memory = batches(1)
    assert data_files._decoded == {("train", round(SIZE * 286 / 256)): None}
    (decoded,) = data_memory._decoded.values()
    assert decoded is not None and decoded.sketch.dtype == np.uint8
    assert len(from_files) == len(from_memory) == 2 * data_files.steps_per_epoch
    for a, b in zip(from_files, from_memory, strict=True):
        np.testing.assert_array_equal(a, b)


def test_shards_union_to_the_single_worker_global_batch(kaggle_folder: Path, tmp_path) -> None:
    """Two input pipelines with per-replica batch b see, step by step, the examples one pipeline
    with batch 2b sees: the basis of exact data-parallel training."""
    config = config_for(kaggle_folder, tmp_path / "cache", dropout=0.0)
    data = TrainingData(config)  # global batch 2 over 6 images: 3 steps
    single = [
        b["color"].numpy() for b in data.train_dataset(1, tf.distribute.InputContext(1, 0, 1))
    ]
    shards = [
        [b["color"].numpy() for b in data.train_dataset(1, tf.distribute.InputContext(2, k, 2))]
        for k in range(2)
    ]
    assert len(single) == data.steps_per_epoch == 3
    for step, global_batch in enumerate(single):
        assert all(len(shard[step]) == 1 for shard in shards)
        union = np.concatenate([shards[0][step], shards[1][step]])
        np.testing.assert_array_equal(np.sort(union, axis=0), np.sort(global_batch, axis=0))


def test_unpaired_families_draw_sketch_and_colour_independently(
    kaggle_folder: Path, tmp_path
) -> None:
    config = parse_config(
        {
            "name": "t",
            "data": {"path": str(kaggle_folder), "image_size": SIZE, "cache_dir": str(tmp_path)},
            "model": {"family": "cyclegan"},
            "train": {"batch_size": 2},
        }
    )
    examples = TrainingData(config).examples("train", epoch=0)
    assert (examples.sketch_part == RIGHT).all() and (examples.color_part == LEFT).all()
    assert not np.array_equal(examples.sketch_path, examples.color_path)
    paired_eval = TrainingData(config).examples("test", epoch=None)
    np.testing.assert_array_equal(paired_eval.sketch_path, paired_eval.color_path)


def test_unpaired_layout_reads_whole_images_from_a_and_b(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for folder, count in (("trainA", 6), ("trainB", 7), ("valA", 1), ("valB", 1)):
        (tmp_path / "d" / folder).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(pair_image(rng, SIZE, SIZE)).save(tmp_path / "d" / folder / f"{i}.png")
    config = parse_config(
        {
            "name": "t",
            "data": {
                "path": str(tmp_path / "d"),
                "layout": "unpaired",
                "image_size": SIZE,
                "cache_dir": str(tmp_path / "c"),
            },
            "model": {"family": "cyclegan"},
            "train": {"batch_size": 2},
        }
    )
    data = TrainingData(config)
    # 2 of each domain carved for selection; zip: the smaller domain
    assert data.num_train == 4 and data.steps_per_epoch == 2
    examples = data.examples("train", 0)
    assert all("trainA" in p for p in examples.sketch_path)
    assert all("trainB" in p for p in examples.color_path)
    assert (examples.sketch_part == WHOLE).all()
    assert len(list(data.train_dataset(0))) == 2


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """One file per kind of trouble, beside two good pairs."""
    rng = np.random.default_rng(6)
    folder = tmp_path / "messy"
    folder.mkdir()
    good = encode(pair_image(rng))
    (folder / "good1.png").write_bytes(good)
    (folder / "good2.jpg").write_bytes(encode(pair_image(rng), "JPEG"))
    (folder / "gray.png").write_bytes(encode(pair_image(rng)[..., 0]))
    (folder / "rgba.png").write_bytes(encode(pair_image(rng), mode="RGBA"))
    (folder / "odd.png").write_bytes(encode(pair_image(rng, SIZE, 2 * SIZE + 1)))
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "truncated.jpg").write_bytes(encode(pair_image(rng), "JPEG")[:300])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_bytes(b"this is not an image")
    (folder / "notes.txt").write_text("not an image by its name")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "tiny.png").write_bytes(encode(pair_image(rng, 6, 12)))  # 6x6 halves < 32/4
    (folder / "subfolder").mkdir()
    return folder


def test_scan_keeps_converts_skips_and_counts(messy_folder: Path, tmp_path: Path) -> None:
    index = index_split(messy_folder, paired=True, image_size=SIZE, cache_dir=tmp_path / "c")
    assert [p.name for p in index.files] == [
        "good1.png",
        "good2.jpg",
        "gray.png",
        "odd.png",
        "rgba.png",
    ]
    assert sorted(index.skipped["corrupt"]) == [
        "empty.png",
        "text.png",
        "truncated.jpg",
        "truncated.png",
    ]
    assert index.skipped["smaller than 8 px a side"] == ("tiny.png",)
    assert sorted(index.ignored) == [".DS_Store", "notes.txt"]
    assert index.converted == 3  # gray, rgba, odd width
    line = index.describe()
    assert line.startswith("messy: 5 images (skipped 5: 4 corrupt [")
    assert "ignored 2 non-image file(s)" in line and "converted 3" in line


def test_every_kept_file_goes_through_the_pipeline(messy_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    (root / "train").mkdir(parents=True)
    for path in messy_folder.iterdir():
        if path.is_file():
            (root / "train" / path.name).write_bytes(path.read_bytes())
    (root / "val").mkdir()
    (root / "val" / "v.png").write_bytes((messy_folder / "good1.png").read_bytes())
    config = parse_config(
        {
            "name": "t",
            "data": {
                "path": str(root),
                "image_size": SIZE,
                "cache_dir": str(tmp_path / "c"),
                "selection": 2,
            },
            "model": {"family": "pix2pix"},
            "train": {"batch_size": 1},
        }
    )
    data = TrainingData(config)
    batches = list(data.train_dataset(0)) + list(data.eval_dataset("selection", 1))
    assert len(batches) == 5  # no decode error, no silent drop (3 train + 2 selection)
    for batch in batches:
        assert np.isfinite(batch["sketch"].numpy()).all()


def test_a_folder_with_no_usable_image_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"garbage")
    (folder / "b.txt").write_text("x")
    with pytest.raises(
        DataError,
        match=r"no usable image in .*bad \(bad: 0 images \(skipped 1: 1 corrupt \[a.png\]",
    ):
        index_split(folder, paired=True, image_size=SIZE, cache_dir=tmp_path / "c")


def test_fewer_images_than_a_batch_is_one_clear_error(kaggle_folder: Path, tmp_path: Path) -> None:
    config = parse_config(
        {
            "name": "t",
            "data": {"path": str(kaggle_folder), "image_size": SIZE, "cache_dir": str(tmp_path)},
            "model": {"family": "pix2pix"},
            "train": {"batch_size": 7},
        }
    )
    with pytest.raises(
        DataError, match="6 training images .* fewer than one batch of 7; lower train.batch_size"
    ):
        TrainingData(config)


def test_scan_cache_is_reused_and_invalidated_by_changes(
    kaggle_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    from ganime_core.data import scan

    cache = tmp_path / "c"
    first = index_split(kaggle_folder / "train", paired=True, image_size=SIZE, cache_dir=cache)
    probed = []
    original = scan._probe
    monkeypatch.setattr(scan, "_probe", lambda path: probed.append(path) or original(path))
    again = index_split(kaggle_folder / "train", paired=True, image_size=SIZE, cache_dir=cache)
    assert probed == [] and again.content_hash == first.content_hash
    (kaggle_folder / "train" / "000.png").write_bytes(b"now corrupt")
    changed = index_split(kaggle_folder / "train", paired=True, image_size=SIZE, cache_dir=cache)
    assert [Path(p).name for p in probed] == ["000.png"]
    assert changed.skipped == {"corrupt": ("000.png",)}
    assert changed.content_hash != first.content_hash


def test_generated_data_is_written_once_into_the_cache(smoke_config, cache_dir: Path) -> None:
    config = smoke_config()
    data = TrainingData(config)
    assert data.root.is_relative_to(cache_dir)
    # 200 generated: 160 in train/ (16 carved for selection), 40 in val/ (the test split)
    assert data.num_train == 144 and len(data.examples("selection", None)) == 16
    assert len(data.examples("test", None)) == 40
    assert TrainingData(config).content_hash == data.content_hash


# --- the three splits -------------------------------------------------------------------------


def split_files(data: TrainingData, split: str) -> set[str]:
    return set(data.examples(split, epoch=None).color_path)


def test_selection_is_carved_from_train_seeded_apart_from_the_run_seed(
    kaggle_folder: Path, tmp_path: Path
) -> None:
    data = TrainingData(config_for(kaggle_folder, tmp_path / "c"))
    train, selection, test = (split_files(data, s) for s in ("train", "selection", "test"))
    in_train_folder = {str(p) for p in data.folder("train")[0].files}
    assert train | selection == in_train_folder and not train & selection
    assert len(selection) == 2  # 10% of 8, at least 2
    assert test == {str(p) for p in data.folder("val")[0].files} and not test & in_train_folder

    def carved(seed: int = 0, **data_settings) -> set[str]:
        raw = config_for(kaggle_folder, tmp_path / "c").model_dump(mode="json")
        raw["data"].update(data_settings)
        raw["seed"] = seed
        return split_files(TrainingData(parse_config(raw)), "selection")

    assert carved(seed=7) == selection  # every trial and compare seed selects on the same images
    assert len(carved(selection=4)) == 4
    assert len(carved(selection=0.5)) == 4
    assert any(carved(selection_seed=s) != selection for s in range(1, 6))


def test_a_selection_that_leaves_nothing_to_train_is_one_clear_error(
    kaggle_folder: Path, tmp_path: Path
) -> None:
    raw = config_for(kaggle_folder, tmp_path / "c").model_dump(mode="json")
    raw["data"]["selection"] = 8
    with pytest.raises(DataError, match="8 selection images leave none of the 8 in train/"):
        TrainingData(parse_config(raw))


@pytest.mark.parametrize(
    ("value", "message"),
    [(1.5, "a fraction must be in"), (0.0, "a fraction must be in"), (1, "a count must be")],
)
def test_data_selection_takes_a_fraction_or_a_count(tmp_path: Path, value, message) -> None:
    from ganime_core.errors import ConfigError

    raw = {"name": "t", "model": {"family": "pix2pix"}, "data": {"selection": value}}
    with pytest.raises(ConfigError, match=f"data.selection: {message}"):
        parse_config(raw)


def test_training_never_opens_the_test_folder(kaggle_folder: Path, tmp_path: Path) -> None:
    """The val/ folder holds only garbage: everything training reads works, the first read of
    the test split is the one that fails."""
    for path in (kaggle_folder / "val").iterdir():
        path.write_bytes(b"not an image")
    data = TrainingData(config_for(kaggle_folder, tmp_path / "c"))
    assert len(list(data.train_dataset(0))) == data.steps_per_epoch
    assert len(list(data.eval_dataset("selection", 2))) == 1
    data.describe(), data.content_hash
    assert "val" not in data._folders
    with pytest.raises(DataError, match="no usable image in .*val"):
        data.examples("test", epoch=None)


# --- same-palette references, keys and reference pools --------------------------------------------


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """Generated data in the free palette: 10 images in train/ (8 train, 2 selection), 2 in val/,
    each with its same-palette reference in references/."""
    return write_synthetic_dataset(tmp_path / "generated", 12, SIZE, 0, "free")


def style2paints_for(root: Path, cache: Path, reference: str = "own", **data) -> object:
    return parse_config(
        {
            "name": "t",
            "data": {"path": str(root), "image_size": SIZE, "cache_dir": str(cache), **data},
            "model": {
                "family": "style2paints",
                "base_filters": 4,
                "allow_untrained_vgg": True,
                "training_reference": reference,
            },
            "train": {"batch_size": 2},
        }
    )


def read_float(path: Path | str, part: int = WHOLE) -> np.ndarray:
    with Image.open(path) as image:
        array = np.asarray(image)
    half = array.shape[1] // 2
    array = {WHOLE: array, LEFT: array[:, :half], RIGHT: array[:, half:]}[part]
    return array.astype(np.float32) / 127.5 - 1.0


def test_generated_data_is_cached_per_palette_and_layout_version(tmp_path: Path) -> None:
    roots = {}
    for palette in ("tied", "free"):
        raw = {"image_size": SIZE, "cache_dir": str(tmp_path), "synthetic": {"count": 5}}
        raw["synthetic"]["palette"] = palette
        config = parse_config({"name": "t", "data": raw, "model": {"family": "pix2pix"}})
        roots[palette] = data_root(config.data)
        assert roots[palette].name == f"n5-s{SIZE}-seed0-{palette}-v{LAYOUT_VERSION}"
        assert (roots[palette] / "references" / "train").is_dir()
    tied, free = (read_float(roots[p] / "train" / "00000.png") for p in ("tied", "free"))
    assert not np.array_equal(tied, free)


def test_same_palette_metric_references_are_the_sketch_files_own(
    generated: Path, tmp_path: Path
) -> None:
    data = TrainingData(config_for(generated, tmp_path / "cache"))
    for split, folder in (("test", "val"), ("selection", "train")):
        paths, parts = data.reference_files(split, "same_palette")
        sketches = data.examples(split, epoch=None).sketch_path
        assert len(paths) == len(sketches) == 2 and (parts == WHOLE).all()
        for path, sketch in zip(paths, sketches, strict=True):
            assert Path(path) == generated.resolve() / "references" / folder / Path(sketch).name
    batch = next(iter(data.eval_dataset("test", reference="same_palette")))
    for row, path in enumerate(data.reference_files("test", "same_palette")[0]):
        np.testing.assert_array_equal(batch["reference"][row], read_float(path))
        assert not np.array_equal(batch["reference"][row], batch["color"][row])


def test_same_palette_without_references_is_one_clear_line(
    kaggle_folder: Path, tmp_path: Path
) -> None:
    data = TrainingData(config_for(kaggle_folder, tmp_path / "c1"))
    with pytest.raises(
        DataError,
        match=r"metrics.reference: same_palette needs a data set with a references/ folder: "
        r"generated data has one; .* \(use random_train or ground_truth\)$",
    ) as raised:
        data.reference_files("test", "same_palette")
    assert len(str(raised.value).splitlines()) == 1
    training = TrainingData(style2paints_for(kaggle_folder, tmp_path / "c2", "same_palette"))
    with pytest.raises(DataError, match=r"model.training_reference: same_palette needs .*own or"):
        training.train_dataset(0)


@pytest.mark.parametrize("decoded_cache_mb", [0, 100])
def test_same_palette_training_references_are_whole_and_never_jittered(
    generated: Path, tmp_path: Path, decoded_cache_mb: int
) -> None:
    config = style2paints_for(
        generated, tmp_path / "c", "same_palette", decoded_cache_mb=decoded_cache_mb
    )
    data = TrainingData(config)
    files = data.folder("train")[0].files
    batches = list(data.train_dataset(0))
    assert (data._decoded[("train", 36)] is not None) == bool(decoded_cache_mb)
    keys = np.concatenate([batch["key"].numpy() for batch in batches])
    np.testing.assert_array_equal(keys, data.examples("train", 0).key[: len(keys)])
    for batch in batches:
        assert batch["key"].dtype == tf.int64 and batch["key"].shape == (2,)
        for row, key in enumerate(batch["key"].numpy()):
            reference = generated / "references" / "train" / files[key].name
            np.testing.assert_array_equal(batch["reference"][row], read_float(reference))


def test_only_fixed_training_references_carry_a_key(generated: Path, tmp_path: Path) -> None:
    def keys(config) -> set[str]:
        return set(next(iter(TrainingData(config).train_dataset(0))))

    assert keys(config_for(generated, tmp_path / "c")) == {"sketch", "color"}
    assert keys(config_for(generated, tmp_path / "c", family="cyclegan")) == {"sketch", "color"}
    reference = {"sketch", "color", "reference"}
    assert keys(style2paints_for(generated, tmp_path / "c", "jittered")) == reference
    for kind in ("own", "same_palette"):
        assert keys(style2paints_for(generated, tmp_path / "c", kind)) == reference | {"key"}
    own = next(iter(TrainingData(style2paints_for(generated, tmp_path / "c")).train_dataset(0)))
    np.testing.assert_array_equal(own["reference"], own["color"])  # jittered with it, as before


@pytest.mark.parametrize("kind", ["own", "same_palette"])
def test_reference_pool_row_i_is_train_file_i(generated: Path, tmp_path: Path, kind: str) -> None:
    data = TrainingData(style2paints_for(generated, tmp_path / "c", kind))
    files = data.folder("train")[0].files
    reference, color = data.reference_pool("reference"), data.reference_pool("color")
    assert reference.dtype == color.dtype == np.uint8
    assert reference.shape == color.shape == (len(files), SIZE, SIZE, 3) == (10, SIZE, SIZE, 3)
    for i, file in enumerate(files):
        np.testing.assert_array_equal(to_float(color[i]), read_float(file, LEFT))
        want = file if kind == "own" else generated / "references" / "train" / file.name
        np.testing.assert_array_equal(
            to_float(reference[i]), read_float(want, LEFT if kind == "own" else WHOLE)
        )
    same = data.pool_hash("reference") == data.pool_hash("color")
    assert same == (kind == "own")
    with pytest.raises(ValueError, match="jittered"):
        TrainingData(style2paints_for(generated, tmp_path / "c", "jittered")).reference_pool(
            "reference"
        )


def test_reference_pools_kept_decoded_and_hashed_by_content(
    generated: Path, tmp_path: Path
) -> None:
    """A pool comes from the decoded training images when they are kept at the image size, the
    same as decoding the files; its hash follows the files' bytes."""
    config = style2paints_for(
        generated, tmp_path / "c", "same_palette", jitter=False, decoded_cache_mb=100
    )
    kept = TrainingData(config)
    list(kept.train_dataset(0))
    assert kept._decoded[("train", SIZE)] is not None
    fresh = TrainingData(config)
    for kind in ("reference", "color"):
        np.testing.assert_array_equal(kept.reference_pool(kind), fresh.reference_pool(kind))
    before = {kind: fresh.pool_hash(kind) for kind in ("reference", "color")}
    first = generated / "references" / "train" / "00000.png"
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8) + 90).save(first)
    after = TrainingData(config)
    assert after.pool_hash("reference") != before["reference"]
    assert after.pool_hash("color") == before["color"]
    np.testing.assert_array_equal(to_float(after.reference_pool("reference")[0]), read_float(first))
