"""The synthetic data set: layout, determinism, sketch/colour consistency and learnability."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganime_core.data import synth
from ganime_core.data.synth import (
    BACKGROUND,
    OUTLINE,
    PART_ID,
    PARTS,
    STYLES,
    palette,
    render_annotated,
    render_character,
    split_of,
    val_count,
    write_synthetic_dataset,
)

WHITE = (255, 255, 255)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(path) as image:
        array = np.asarray(image)
    size = array.shape[0]
    return array[:, :size], array[:, size:]


def _mask(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(colour, dtype=np.uint8), axis=-1)


def _colours(image: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in np.unique(image.reshape(-1, 3), axis=0)}


# --- layout ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "train", "val"), [(1, 1, 0), (2, 1, 1), (5, 4, 1), (10, 8, 2)])
def test_layout_and_split(tmp_path: Path, count: int, train: int, val: int) -> None:
    out = write_synthetic_dataset(tmp_path / "data", count, 32, seed=0)
    assert out == tmp_path / "data" and isinstance(out, Path)
    assert sorted(p.name for p in out.iterdir()) == ["train", "val"]
    names = {split: sorted(p.name for p in (out / split).iterdir()) for split in ("train", "val")}
    assert names["train"] == [f"{i:05d}.png" for i in range(train)]
    assert names["val"] == [f"{i:05d}.png" for i in range(val)]
    assert not list(tmp_path.glob("*.tmp-*")), "temporary folder left behind"


def test_val_count_is_the_rounded_fifth() -> None:
    for count in range(1, 2000):
        expected = round(count * 0.2)
        if count >= 2:
            expected = max(1, expected)
        assert val_count(count) == expected, count
        splits = [split_of(i)[0] for i in range(count)]
        assert splits.count("val") == expected, count


def test_split_numbering_is_dense_and_independent_of_count() -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for index in range(500):
        split, number = split_of(index)
        seen[split].append(number)
    assert seen["train"] == list(range(len(seen["train"])))
    assert seen["val"] == list(range(len(seen["val"])))
    assert 90 <= len(seen["val"]) <= 110  # spread through the whole range, about every fifth


@pytest.mark.parametrize("size", [16, 32, 64])
def test_images_are_rgb_pairs(tmp_path: Path, size: int) -> None:
    out = write_synthetic_dataset(tmp_path / "data", 6, size, seed=1)
    files = sorted(out.rglob("*.png"))
    assert len(files) == 6
    for path in files:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.size == (2 * size, size)
            assert not image.info.get("dpi") and "tIME" not in image.info


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a = _files(write_synthetic_dataset(tmp_path / "a", 8, 64, seed=3))
    b = _files(write_synthetic_dataset(tmp_path / "b", 8, 64, seed=3))
    c = _files(write_synthetic_dataset(tmp_path / "c", 8, 64, seed=4))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a)


def test_render_is_a_function_of_the_generator_state() -> None:
    first = render_character(np.random.default_rng([7, 2]), 64)
    again = render_character(np.random.default_rng([7, 2]), 64)
    other = render_character(np.random.default_rng([7, 3]), 64)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_more_images_do_not_change_earlier_ones(tmp_path: Path) -> None:
    small = _files(write_synthetic_dataset(tmp_path / "small", 5, 32, seed=9))
    large = _files(write_synthetic_dataset(tmp_path / "large", 10, 32, seed=9))
    assert set(small) < set(large)
    assert all(large[name] == data for name, data in small.items())
    # and every file is image `index` of the whole set, rendered from default_rng([seed, index])
    for index in range(10):
        split, number = split_of(index)
        colour, sketch = _halves(tmp_path / "large" / split / f"{number:05d}.png")
        want = render_character(np.random.default_rng([9, index]), 32)
        assert np.array_equal(colour, want[0]) and np.array_equal(sketch, want[1]), index


def test_bytes_are_reproducible_across_processes(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys, hashlib, pathlib\n"
        "from ganime_core.data.synth import write_synthetic_dataset\n"
        "out = write_synthetic_dataset(sys.argv[1], 4, 32, 5)\n"
        "print(hashlib.sha256(b''.join(p.read_bytes() for p in sorted(out.rglob('*.png'))))"
        ".hexdigest())\n"
    )
    root = Path(synth.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    digest = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "child")],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    out = write_synthetic_dataset(tmp_path / "here", 4, 32, 5)
    here = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.rglob("*.png"))))
    assert digest == here.hexdigest()


# --- sketch and colour halves ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_sketch_is_outlines_on_white_matching_the_colour_outlines(size: int) -> None:
    for index in range(6):
        colour, sketch = render_character(np.random.default_rng([0, index]), size)
        assert colour.shape == sketch.shape == (size, size, 3)
        assert colour.dtype == sketch.dtype == np.uint8
        white, dark = _mask(sketch, WHITE), _mask(sketch, OUTLINE)
        assert np.all(white | dark), "sketch has a pixel that is neither white nor outline"
        assert white.mean() > 0.5, "sketch is mostly white"
        assert dark.mean() > 0.03, "sketch has lines"
        assert np.array_equal(_mask(colour, OUTLINE), dark), "outlines differ between halves"
        # the character is centred with margins: the background shows on the top, left and right
        background = _mask(colour, BACKGROUND)
        assert background[0].all() and background[:, 0].all() and background[:, -1].all()


def test_colour_half_has_several_flat_colours() -> None:
    for index in range(10):
        character = render_annotated(np.random.default_rng([1, index]), 128)
        colours = _colours(character.colour)
        allowed = set(palette(character.styles).values())
        assert colours <= allowed, "a colour outside the character's palette (not flat)"
        assert len(colours) >= 8
        assert BACKGROUND in colours and OUTLINE in colours
        # flat: the colour image is exactly a per-part lookup of the label map
        lut = np.array([palette(character.styles).get(p, (0, 0, 0)) for p in PARTS], np.uint8)
        assert np.array_equal(lut[character.labels], character.colour)


def test_every_shape_class_is_drawn() -> None:
    for index in range(20):
        character = render_annotated(np.random.default_rng([2, index]), 64)
        present = {PARTS[i] for i in np.unique(character.labels)}
        assert {"background", "outline", "hair", "skin", "iris", "clothes"} <= present
        for part in ("hair", "skin", "clothes"):
            assert (character.labels == PART_ID[part]).mean() > 0.03, part


# --- learnability ---------------------------------------------------------------------------------


def test_every_variant_occurs_and_has_a_distinct_colour() -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for index in range(200):
        character = render_annotated(np.random.default_rng([3, index]), 16)
        for cls, variant in character.styles.items():
            seen[cls].add(variant)
    assert {cls: set(variants) for cls, variants in STYLES.items()} == seen
    for cls in ("hair", "face", "eyes", "clothes"):
        main = {next(iter(colours.values())) for colours in STYLES[cls].values()}
        assert len(main) == len(STYLES[cls]) >= 2, cls


def test_hair_colour_is_constant_per_variant() -> None:
    hair_colours: dict[str, set[tuple[int, ...]]] = defaultdict(set)
    for index in range(120):
        character = render_annotated(np.random.default_rng([4, index]), 64)
        hair = character.colour[character.labels == PART_ID["hair"]]
        assert len(hair) > 0
        hair_colours[character.styles["hair"]] |= _colours(hair)
    assert set(hair_colours) == set(STYLES["hair"])
    for variant, colours in hair_colours.items():
        assert colours == {STYLES["hair"][variant]["hair"]}, variant
    # and the colour tells the variants apart
    assert len({c for cs in hair_colours.values() for c in cs}) == len(STYLES["hair"])


def test_every_part_colour_is_a_function_of_the_variants() -> None:
    for index in range(60):
        character = render_annotated(np.random.default_rng([5, index]), 64)
        colours = palette(character.styles)
        for part_id in np.unique(character.labels):
            pixels = character.colour[character.labels == part_id]
            assert _colours(pixels) == {colours[PARTS[part_id]]}


# --- arguments and the output folder --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"count": 0}, "count"),
        ({"count": -3}, "count"),
        ({"count": 2.5}, "count"),
        ({"size": 15}, "size"),
        ({"size": 0}, "size"),
        ({"size": "64"}, "size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, name: str) -> None:
    args = {"count": 4, "size": 32, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=name):
        write_synthetic_dataset(tmp_path / "data", **args)
    assert not (tmp_path / "data").exists()


def test_render_rejects_small_size() -> None:
    with pytest.raises(ValueError, match="size"):
        render_character(np.random.default_rng(0), 8)


def test_refuses_non_empty_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        write_synthetic_dataset(out, 3, 32, 0)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    existing_file = tmp_path / "file"
    existing_file.write_text("x")
    with pytest.raises(FileExistsError):
        write_synthetic_dataset(existing_file, 3, 32, 0)


def test_fills_an_existing_empty_folder_and_creates_parents(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write_synthetic_dataset(empty, 3, 32, 0)
    assert len(list(empty.rglob("*.png"))) == 3
    nested = write_synthetic_dataset(tmp_path / "a" / "b" / "data", 3, 32, 0)
    assert len(list(nested.rglob("*.png"))) == 3


def test_crash_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = synth.render_character

    def flaky(rng: np.random.Generator, size: int):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return real(rng, size)

    monkeypatch.setattr(synth, "render_character", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        write_synthetic_dataset(tmp_path / "data", 5, 32, 0)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writer_wins_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    real = synth.render_character

    def other_writer_finishes_first(rng: np.random.Generator, size: int):
        if not out.exists():
            (out / "train").mkdir(parents=True)
            (out / "train" / "marker").write_text("other")
        return real(rng, size)

    monkeypatch.setattr(synth, "render_character", other_writer_finishes_first)
    assert write_synthetic_dataset(out, 3, 32, 0) == out
    assert (out / "train" / "marker").read_text() == "other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "temporary folder left behind"


def test_no_tensorflow_import() -> None:
    import subprocess

    code = "import sys, ganime_core.data.synth; print('tensorflow' in sys.modules)"
    root = Path(synth.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    assert result.stdout.strip() == "False"
