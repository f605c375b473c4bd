"""The synthetic data set: layout, determinism, sketch/colour consistency, learnability, and
the free palette with its same-palette references and part annotations."""

from __future__ import annotations

import colorsys
import hashlib
import json
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
    FIXED_COLOURS,
    FREE_SATURATION,
    FREE_VALUE,
    OUTLINE,
    PALETTE_PARTS,
    PART_ID,
    PARTS,
    STYLES,
    free_palette,
    palette,
    render_annotated,
    render_character,
    render_example,
    split_of,
    val_count,
    write_synthetic_dataset,
)

WHITE = (255, 255, 255)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _pairs(root: Path) -> list[Path]:
    """The colour | sketch files of a data set (train/ and val/), without its annotations."""
    return sorted([*root.glob("train/*.png"), *root.glob("val/*.png")])


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


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
    assert sorted(p.name for p in out.iterdir()) == [
        "palettes.json",
        "parts",
        "references",
        "train",
        "val",
    ]
    palettes = json.loads((out / "palettes.json").read_text())
    for split, n in (("train", train), ("val", val)):
        names = [f"{i:05d}.png" for i in range(n)]
        for folder in (out / split, out / "references" / split, out / "parts" / split):
            assert sorted(p.name for p in folder.iterdir()) == names, folder
        assert list(palettes[split]) == [name[:5] for name in names]
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
    files = _pairs(out)
    assert len(files) == 6
    kinds = {"": ("RGB", 2 * size), "references/": ("RGB", size), "parts/": ("L", size)}
    for path in files:
        for prefix, (mode, width) in kinds.items():
            with Image.open(out / prefix / path.relative_to(out)) as image:
                assert image.format == "PNG"
                assert image.mode == mode
                assert image.size == (width, size)
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
    small_palettes, large_palettes = (json.loads(f.pop("palettes.json")) for f in (small, large))
    assert set(small) < set(large)
    assert all(large[name] == data for name, data in small.items())
    for split, entries in small_palettes.items():
        assert entries.items() < large_palettes[split].items()
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


# --- palettes, references and part annotations ---------------------------------------------------

# sha256 over (path, bytes) of train/ and val/ of write_synthetic_dataset(out, 6, size, seed=3),
# measured before references/, parts/ and the free palette existed: tied pairs never change.
TIED_PAIRS_SHA256 = {
    32: "f77933cca859220781d03281e53abcc2b5fb534c780d55379437e9dc466b37e1",
    64: "431013854679c9eb71dce6b24f4d40dd71f1a6102e657d66c1aa8d9e79243541",
}


def _part_colour(part_id: int, colours: dict[str, tuple[int, int, int]]) -> tuple[int, ...]:
    part = PARTS[part_id]
    return tuple(colours[part]) if part in PALETTE_PARTS else FIXED_COLOURS[part]


def _assert_painted_in(character_colour: np.ndarray, labels: np.ndarray, colours: dict) -> None:
    """Every part's pixels have that part's colour: the palette's, or the fixed one."""
    for part_id in np.unique(labels):
        pixels = character_colour[labels == part_id]
        assert _colours(pixels) == {_part_colour(part_id, colours)}, PARTS[part_id]


@pytest.mark.parametrize("size", [32, 64])
def test_tied_pairs_are_the_bytes_written_before_references_existed(
    tmp_path: Path, size: int
) -> None:
    out = write_synthetic_dataset(tmp_path / "data", 6, size, seed=3)  # palette: tied
    digest = hashlib.sha256()
    for path in _pairs(out):
        digest.update(str(path.relative_to(out)).encode())
        digest.update(path.read_bytes())
    assert digest.hexdigest() == TIED_PAIRS_SHA256[size]


def test_free_colours_vary_per_character_whatever_its_variants() -> None:
    hair: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for index in range(40):
        example = render_example(11, index, 32, "free")
        image = example.image
        hair[image.styles["hair"]].append(example.palette["hair"])
        _assert_painted_in(image.colour, image.labels, example.palette)
        # drawn as the tied image is: the colours come from a stream of their own
        tied = render_example(11, index, 32, "tied").image
        np.testing.assert_array_equal(image.labels, tied.labels)
        np.testing.assert_array_equal(image.sketch, tied.sketch)
    assert set(hair) == set(STYLES["hair"])
    for variant, colours in hair.items():  # one variant, as many hair colours as characters
        assert len(colours) >= 3 and len(set(colours)) == len(colours), variant


def test_free_colours_stay_clear_of_the_lines_white_and_background() -> None:
    lines = (OUTLINE, WHITE, BACKGROUND, FIXED_COLOURS["pupil"])
    for index in range(300):
        for colour in free_palette(np.random.default_rng([0, index, 1])).values():
            _, saturation, value = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
            assert FREE_SATURATION[0] - 0.01 <= saturation <= FREE_SATURATION[1] + 0.01
            assert FREE_VALUE[0] - 0.01 <= value <= FREE_VALUE[1] + 0.01
            for line in lines:
                assert max(abs(a - b) for a, b in zip(colour, line, strict=True)) > 30, colour


@pytest.mark.parametrize("mode", ["tied", "free"])
def test_the_reference_is_another_drawing_in_the_same_palette(mode: str) -> None:
    other_variants = 0
    for index in range(20):
        example = render_example(4, index, 64, mode)
        image, reference = example.image, example.reference
        assert not np.array_equal(reference.labels, image.labels)
        assert not np.array_equal(reference.colour, image.colour)
        _assert_painted_in(reference.colour, reference.labels, example.palette)
        other_variants += reference.styles != image.styles
        if mode == "tied":
            assert example.palette == {
                part: palette(image.styles).get(part, (128, 128, 128)) for part in PALETTE_PARTS
            }
    # tied: the variants decide the colours, so the reference keeps them; free: it need not
    assert (other_variants == 0) if mode == "tied" else (other_variants > 10)


@pytest.mark.parametrize("mode", ["tied", "free"])
def test_written_references_parts_and_palettes_agree_with_the_pairs(
    tmp_path: Path, mode: str
) -> None:
    out = write_synthetic_dataset(tmp_path / "data", 6, 32, seed=2, palette=mode)
    palettes = json.loads((out / "palettes.json").read_text())
    for index in range(6):
        split, number = split_of(index)
        name = f"{number:05d}"
        colour, sketch = _halves(out / split / f"{name}.png")
        labels = _read(out / "parts" / split / f"{name}.png")
        reference = _read(out / "references" / split / f"{name}.png")
        entry = palettes[split][name]
        assert list(entry) == list(PALETTE_PARTS)
        _assert_painted_in(colour, labels, entry)
        np.testing.assert_array_equal(_mask(sketch, OUTLINE), labels == PART_ID["outline"])
        allowed = {tuple(c) for c in entry.values()} | set(FIXED_COLOURS.values())
        assert _colours(reference) <= allowed and not np.array_equal(reference, colour)
        example = render_example(2, index, 32, mode)
        assert entry == {part: list(c) for part, c in example.palette.items()}
        np.testing.assert_array_equal(reference, example.reference.colour)


def test_render_takes_only_known_variants_and_palette_colours() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="styles"):
        render_annotated(rng, 32, styles={"hair": "bald"})
    with pytest.raises(ValueError, match="outline"):
        render_annotated(rng, 32, colours={"outline": (1, 2, 3)})
    styles = {cls: next(iter(variants)) for cls, variants in STYLES.items()}
    character = render_annotated(rng, 32, styles=styles, colours={"hair": (10, 200, 90)})
    assert character.styles == styles
    assert _colours(character.colour[character.labels == PART_ID["hair"]]) == {(10, 200, 90)}


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
        ({"palette": "random"}, "palette"),
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
    assert len(_pairs(empty)) == 3
    nested = write_synthetic_dataset(tmp_path / "a" / "b" / "data", 3, 32, 0)
    assert len(_pairs(nested)) == 3


def test_crash_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = synth.render_annotated

    def flaky(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "render_annotated", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        write_synthetic_dataset(tmp_path / "data", 5, 32, 0)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writer_wins_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    real = synth.render_annotated

    def other_writer_finishes_first(*args, **kwargs):
        if not out.exists():
            (out / "train").mkdir(parents=True)
            (out / "train" / "marker").write_text("other")
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "render_annotated", other_writer_finishes_first)
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
