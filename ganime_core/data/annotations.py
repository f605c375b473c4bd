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
