"""The annotations beside a generated data set's images (NumPy + Pillow only).

Generated data (ganime_core/data/synth.py, which owns the layout and the part vocabulary) holds,
for image NNNNN of folder F (train or val), its part labels in parts/F/NNNNN.png, its reference
in references/F/NNNNN.png, and in palettes.json the colour of every part of PALETTE_PARTS.
Colour metrics per part read them here; data without them (the Kaggle set) has no Annotations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ganime_core.data.synth import (
    PALETTE_PARTS,
    PALETTES_FILE,
    PARTS,
    PARTS_FOLDER,
    REFERENCES_FOLDER,
)
from ganime_core.errors import DataError

_REGENERATE = "delete the folder to have it generated again, or write it with `ganime data synth`"


def reference_path(root: Path, folder: str, file: Path | str) -> Path:
    """Where the same-palette reference of `file` (an image of `root`/`folder`) is: by its stem,
    whether or not it exists."""
    return Path(root) / REFERENCES_FOLDER / folder / f"{Path(file).stem}.png"


@dataclass(frozen=True)
class Annotations:
    """A data root's part labels, palettes and references, looked up by an image's file stem."""

    root: Path
    table: dict[str, dict[str, dict[str, list[int]]]]  # palettes.json: folder -> stem -> part

    @classmethod
    def of(cls, root: Path) -> Annotations | None:
        """The annotations of `root`, or None when it has no parts/ folder and palettes.json
        (data that was not generated, such as the Kaggle set)."""
        root = Path(root)
        path = root / PALETTES_FILE
        if not (root / PARTS_FOLDER).is_dir() or not path.is_file():
            return None
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is unreadable ({exc}); {_REGENERATE}") from None
        if not isinstance(table, dict):
            raise DataError(f"{path} does not map folders to palettes; {_REGENERATE}")
        return cls(root, table)

    def labels(self, folder: str, files: Sequence[Path], size: int) -> np.ndarray:
        """uint8 (len(files), size, size): each file's part labels (indices into PARTS),
        resized (nearest) when stored at another size."""
        out = np.empty((len(files), size, size), np.uint8)
        for row, file in enumerate(files):
            path = self.root / PARTS_FOLDER / folder / f"{Path(file).stem}.png"
            try:
                with Image.open(path) as image:
                    mode = image.mode
                    if image.size != (size, size):
                        image = image.resize((size, size), Image.Resampling.NEAREST)
                    labels = np.asarray(image)
            except OSError as exc:
                raise DataError(
                    f"no part labels for {folder}/{Path(file).name} ({exc}); {_REGENERATE}"
                ) from None
            if mode != "L" or labels.max() >= len(PARTS):
                raise DataError(
                    f"{path} is not a part-label map (mode L, values < {len(PARTS)}); {_REGENERATE}"
                )
            out[row] = labels
        return out

    def palettes(self, folder: str, files: Sequence[Path]) -> np.ndarray:
        """uint8 (len(files), len(PALETTE_PARTS), 3): each file's colour of every part of
        PALETTE_PARTS, in that order."""
        entries = self.table.get(folder, {})
        out = np.empty((len(files), len(PALETTE_PARTS), 3), np.uint8)
        for row, file in enumerate(files):
            entry = entries.get(Path(file).stem)
            missing = [part for part in PALETTE_PARTS if entry is None or part not in entry]
            if missing:
                raise DataError(
                    f"{self.root / PALETTES_FILE} has no {', '.join(missing)} colour for "
                    f"{folder}/{Path(file).name}; {_REGENERATE}"
                )
            out[row] = [entry[part] for part in PALETTE_PARTS]
        return out

    def reference_path(self, folder: str, file: Path | str) -> Path:
        """The same-palette reference of `file` (an image of `folder`); DataError if missing."""
        path = reference_path(self.root, folder, file)
        if not path.is_file():
            raise DataError(f"no reference for {folder}/{Path(file).name} at {path}; {_REGENERATE}")
        return path


# A colour counts as shown in an image where at least this many pixels have it exactly (the
# part colour metric's min_pixels): an edge pixel blended by a resize is no part.
MIN_SHOWN_PIXELS = 4
# An image is painted in a palette when it shows at least this many of the palette's colours.
MIN_MATCHED_COLOURS = 2


def _packed(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> int64 (...): one integer per colour, for exact set lookups."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


class PaletteMatcher:
    """Which of a data set's annotated palettes an image is painted in, and which of its parts
    it shows: from the image's exact colours alone, whatever its drawing. Generated palettes
    are flat colours drawn at random, so an image shows its palette's colours exactly (the
    parts it draws) and no other palette's.

    palettes: uint8 (m, P, 3), every palette of palettes.json (repeats are one palette).
    """

    def __init__(self, palettes: np.ndarray) -> None:
        palettes = np.asarray(palettes)
        if palettes.dtype != np.uint8 or palettes.ndim != 3 or palettes.shape[-1] != 3:
            raise ValueError(f"palettes must be uint8 (m, parts, 3), got {palettes.shape}")
        self.palettes = np.unique(palettes, axis=0)
        self._packed = _packed(self.palettes)  # (m, P)

    @classmethod
    def of(cls, path: Path) -> PaletteMatcher:
        """Every palette of a palettes.json file (any folder); DataError when it holds none."""
        try:
            table = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is unreadable ({exc}); {_REGENERATE}") from None
        entries = [
            [entry[part] for part in PALETTE_PARTS]
            for folder in table.values()
            for entry in folder.values()
            if all(part in entry for part in PALETTE_PARTS)
        ]
        if not entries:
            raise DataError(f"{path} holds no palette of {', '.join(PALETTE_PARTS)}")
        return cls(np.asarray(entries, np.uint8))

    def match(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each image's palette, uint8 (n, P, 3), and which of its parts the image shows, bool
        (n, P): the palette of which the image shows the most colours, each in at least
        MIN_SHOWN_PIXELS pixels. DataError for an image showing fewer than MIN_MATCHED_COLOURS
        colours of every palette (not an image of this data set) or as many of two palettes."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (n, h, w, 3), got {images.shape}")
        found = np.empty((len(images), *self.palettes.shape[1:]), np.uint8)
        shows = np.empty((len(images), self.palettes.shape[1]), bool)
        for row, image in enumerate(images):
            colours, counts = np.unique(_packed(image.reshape(-1, 3)), return_counts=True)
            hits = np.isin(self._packed, colours[counts >= MIN_SHOWN_PIXELS])  # (m, P)
            score = hits.sum(axis=1)
            best = np.flatnonzero(score == score.max())
            if score[best[0]] < MIN_MATCHED_COLOURS:
                raise DataError(
                    f"image {row} shows no palette of this data set ({score[best[0]]} of a "
                    "palette's colours at most): the annotated_palette hint reads only "
                    "references from its own generated data set"
                )
            if len(best) > 1:
                raise DataError(
                    f"image {row} shows {score[best[0]]} colours of each of {len(best)} "
                    "palettes of this data set: which one it is painted in is ambiguous"
                )
            found[row], shows[row] = self.palettes[best[0]], hits[best[0]]
        return found, shows
