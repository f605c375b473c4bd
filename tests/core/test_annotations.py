"""Reading a generated data set's annotations: part labels, palettes and references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganime_core.data.annotations import MIN_SHOWN_PIXELS, Annotations, PaletteMatcher
from ganime_core.data.synth import (
    PALETTE_PARTS,
    PART_ID,
    render_example,
    write_synthetic_dataset,
)
from ganime_core.errors import DataError

SIZE = 32


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 images of the free palette: train/00000..00004 (images 0, 2, 3, 4, 5), val/00000 (1)."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("a") / "data", 6, SIZE, 7, "free")


def test_labels_palettes_and_references_by_file_stem(generated: Path) -> None:
    annotations = Annotations.of(generated)
    assert annotations is not None
    files = [generated / "train" / "00003.png", generated / "train" / "00000.png"]
    # train/00003 is image 4 of the set (split_of)
    examples = [render_example(7, index, SIZE, "free") for index in (4, 0)]

    labels = annotations.labels("train", files, SIZE)
    assert labels.dtype == np.uint8 and labels.shape == (2, SIZE, SIZE)
    for row, example in enumerate(examples):
        np.testing.assert_array_equal(labels[row], example.image.labels)

    palettes = annotations.palettes("train", files)
    assert palettes.dtype == np.uint8 and palettes.shape == (2, len(PALETTE_PARTS), 3)
    for row, example in enumerate(examples):
        np.testing.assert_array_equal(palettes[row], [example.palette[p] for p in PALETTE_PARTS])

    path = annotations.reference_path("val", generated / "val" / "00000.png")
    assert path == generated / "references" / "val" / "00000.png"
    with Image.open(path) as image:
        np.testing.assert_array_equal(
            np.asarray(image), render_example(7, 1, SIZE, "free").reference.colour
        )


def test_labels_are_resized_nearest_to_the_size_asked(generated: Path) -> None:
    annotations = Annotations.of(generated)
    files = [generated / "train" / "00001.png"]
    small = annotations.labels("train", files, SIZE)
    large = annotations.labels("train", files, 2 * SIZE)
    assert large.shape == (1, 2 * SIZE, 2 * SIZE)
    np.testing.assert_array_equal(large, small.repeat(2, axis=1).repeat(2, axis=2))


def test_data_without_annotations_has_none(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    assert Annotations.of(tmp_path) is None
    (tmp_path / "parts").mkdir()  # parts/ without palettes.json: still not annotated
    assert Annotations.of(tmp_path) is None


def test_a_missing_annotation_is_one_clear_line(generated: Path, tmp_path: Path) -> None:
    annotations = Annotations.of(generated)
    absent = [generated / "train" / "09999.png"]
    for read in (
        lambda: annotations.labels("train", absent, SIZE),
        lambda: annotations.palettes("train", absent),
        lambda: annotations.reference_path("train", absent[0]),
    ):
        with pytest.raises(DataError, match="09999") as raised:
            read()
        assert len(str(raised.value).splitlines()) == 1

    broken = tmp_path / "broken"
    (broken / "parts").mkdir(parents=True)
    (broken / "palettes.json").write_text("{not json")
    with pytest.raises(DataError, match="palettes.json is unreadable"):
        Annotations.of(broken)
    (broken / "palettes.json").write_text(json.dumps({"train": {"00000": {"hair": [1, 2, 3]}}}))
    with pytest.raises(DataError, match="no hair_tie, skin"):
        Annotations.of(broken).palettes("train", [Path("00000.png")])


def test_a_palette_is_found_from_an_images_colours_whatever_its_drawing(generated: Path) -> None:
    """Each image of the data set, and each same-palette reference (another drawing), is matched
    to its own palette of palettes.json; the parts it shows are those its drawing paints in
    MIN_SHOWN_PIXELS pixels or more."""
    matcher = PaletteMatcher.of(generated / "palettes.json")
    assert matcher.palettes.shape == (6, len(PALETTE_PARTS), 3)  # free: one palette an image
    examples = [render_example(7, index, SIZE, "free") for index in range(6)]
    for drawing in ("image", "reference"):
        characters = [getattr(example, drawing) for example in examples]
        palettes, shown = matcher.match(np.stack([c.colour for c in characters]))
        for row, (example, character) in enumerate(zip(examples, characters, strict=True)):
            np.testing.assert_array_equal(
                palettes[row], [example.palette[part] for part in PALETTE_PARTS]
            )
            pixels = [(character.labels == PART_ID[part]).sum() for part in PALETTE_PARTS]
            np.testing.assert_array_equal(shown[row], np.array(pixels) >= MIN_SHOWN_PIXELS)
        assert shown[:, PALETTE_PARTS.index("hair")].all()  # every drawing has hair


def test_an_image_of_no_palette_or_of_two_is_one_clear_line() -> None:
    """The palette is the one of which the image shows the most colours; an image showing
    too few of any, or as many of two palettes, is refused in one line. Repeats (tied
    palettes) are one palette."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (2, len(PALETTE_PARTS), 3), dtype=np.uint8)
    matcher = PaletteMatcher(np.stack([a, b, a]))
    assert matcher.palettes.shape[0] == 2

    def painted(*colours: np.ndarray) -> np.ndarray:
        """An 8x8 image of 2x8 stripes, one colour each (16 pixels), on white."""
        image = np.full((1, 8, 8, 3), 255, np.uint8)
        for stripe, colour in enumerate(colours):
            image[0, 2 * stripe : 2 * stripe + 2] = colour
        return image

    palettes, shown = matcher.match(painted(a[0], a[3], b[1]))
    np.testing.assert_array_equal(palettes[0], a)
    np.testing.assert_array_equal(np.flatnonzero(shown[0]), [0, 3])
    # A colour in fewer than MIN_SHOWN_PIXELS pixels is no part shown.
    speck = painted(a[0], a[3])
    speck[0, 7, : MIN_SHOWN_PIXELS - 1] = a[5]
    assert not matcher.match(speck)[1][0, 5]

    for image, message in (
        (painted(a[0]), "shows no palette of this data set"),
        (np.full((1, 8, 8, 3), 128, np.uint8), "shows no palette of this data set"),
        (painted(a[0], a[1], b[0], b[1]), "ambiguous"),
    ):
        with pytest.raises(DataError, match=message) as refused:
            matcher.match(image)
        assert "\n" not in str(refused.value)
