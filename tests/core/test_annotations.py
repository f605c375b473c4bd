"""Reading a generated data set's annotations: part labels, palettes and references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganime_core.data.annotations import Annotations
from ganime_core.data.synth import PALETTE_PARTS, render_example, write_synthetic_dataset
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
