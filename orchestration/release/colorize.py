"""`ganime colorize`: sketches (files and folders) to colour PNGs at each sketch's own size, with
a registered MLflow model or a checkpoint. Unreadable files are reported and skipped; the caller
turns a non-empty `skipped` into the exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ganime_core.checkpoint import open_checkpoint
from ganime_core.errors import GanimeError
from ganime_core.inference import UnreadableImageError, colorize_images, read_image
from orchestration.tracking.model import IMAGE_COLUMN, load_colorizer, sketch_frame

# What `ganime colorize` reads as sketches and references: what PIL decodes (read_image), a
# wider set than a data folder's (ganime_core.data.scan.DATA_SUFFIXES, what tf.io decodes).
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# uint8 (h_i, w_i, 3) sketches, and a reference per sketch or None -> uint8 colour images
ColorizeBatch = Callable[[list[np.ndarray], list[np.ndarray] | None], list[np.ndarray]]


@dataclass
class ColorizeReport:
    out: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    sheet: Path | None = None

    def summary(self) -> dict[str, object]:
        summary: dict[str, object] = {
            "out": str(self.out),
            "written": len(self.written),
            "skipped": [{"file": str(path), "error": why} for path, why in self.skipped],
        }
        if self.sheet is not None:
            summary["sheet"] = str(self.sheet)
        return summary


SHEET_ROWS = 16  # sketches shown on a side-by-side sheet at most
SHEET_ROW_HEIGHT = 128  # px: small sketches are enlarged (nearest) so their lines stay visible
SHEET_GAP = 4  # px of white between images and between rows


def side_by_side(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """uint8 (sketch, colour) pairs -> one uint8 RGB sheet, a row per pair: sketch | colour,
    each scaled to SHEET_ROW_HEIGHT."""

    def scaled(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = (max(1, round(width * SHEET_ROW_HEIGHT / height)), SHEET_ROW_HEIGHT)
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.NEAREST))

    rows = []
    for sketch, colour in pairs:
        left, right = scaled(sketch), scaled(colour)
        gap = np.full((SHEET_ROW_HEIGHT, SHEET_GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([left, gap, right], axis=1))
    width = max(row.shape[1] for row in rows)
    sheet = np.full(
        (len(rows) * (SHEET_ROW_HEIGHT + SHEET_GAP) - SHEET_GAP, width, 3), 255, np.uint8
    )
    for i, row in enumerate(rows):
        top = i * (SHEET_ROW_HEIGHT + SHEET_GAP)
        sheet[top : top + SHEET_ROW_HEIGHT, : row.shape[1]] = row
    return sheet


def gather(inputs: list[Path]) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(file, output path relative to OUTDIR) for each sketch: a file as named, a folder's
    image files (by suffix, recursively) under their path inside it; and the inputs that do
    not exist."""
    found: list[tuple[Path, Path]] = []
    missing: list[tuple[Path, str]] = []
    taken: set[Path] = set()
    for source in inputs:
        if source.is_dir():
            files = sorted(
                p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
            )
            pairs = [(p, p.relative_to(source)) for p in files]
        elif source.is_file():
            pairs = [(source, Path(source.name))]
        else:
            missing.append((source, "no such file or folder"))
            continue
        for path, relative in pairs:
            target = relative.with_suffix(".png")
            if target in taken:  # a.jpg beside a.png: keep both
                target = relative.with_name(relative.name + ".png")
            taken.add(target)
            found.append((path, target))
    return found, missing


def model_colorizer(uri: str) -> ColorizeBatch:
    model = load_colorizer(uri, what="--model")
    return lambda images, references: list(
        model.predict(sketch_frame(images, references))[IMAGE_COLUMN]
    )


def checkpoint_colorizer(path: Path, batch_size: int) -> ColorizeBatch:
    config, family, _ = open_checkpoint(path)
    colorizer = family.colorizer()
    size = config.data.image_size
    return lambda images, references: colorize_images(
        colorizer, images, size, batch_size, references
    )


def find_reference(reference: Path, relative: Path) -> Path:
    """The reference for `sketch`: `reference` itself if a file, else the image in the folder
    `reference` at the sketch's relative path, any image suffix (paired by file name)."""
    if reference.is_file():
        return reference
    for suffix in INPUT_SUFFIXES:
        candidate = reference / relative.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise UnreadableImageError(f"no reference named {relative.with_suffix('.*')} in {reference}")


def colorize_files(
    inputs: list[Path],
    out: Path,
    make_colorizer: Callable[[], ColorizeBatch],
    *,
    batch_size: int = 16,
    progress: bool = True,
    sheet: Path | None = None,
    reference: Path | None = None,
) -> ColorizeReport:
    """Colorize every sketch of `inputs` into `out`, `batch_size` files at a time, and write
    the first SHEET_ROWS side by side into the PNG `sheet` if given. `reference`: one colour
    image for every sketch, or a folder of them paired with the sketches by file name (for a
    method that colorizes after a reference). The model is loaded (`make_colorizer`) only once
    there is something to colorize."""
    if reference is not None and not reference.exists():
        raise GanimeError(f"--reference {reference}: no such file or folder")
    files, missing = gather(inputs)
    report = ColorizeReport(out, skipped=missing)
    shown: list[tuple[np.ndarray, np.ndarray]] = []
    if not files:
        raise GanimeError(f"no sketches found in {' '.join(map(str, inputs))}")
    colorize = make_colorizer()
    with tqdm(total=len(files), desc="colorizing", unit="img", disable=not progress) as bar:
        for start in range(0, len(files), batch_size):
            batch, images, references = [], [], []
            for path, target in files[start : start + batch_size]:
                try:
                    if reference is not None:
                        source = find_reference(reference, target.with_suffix(path.suffix))
                        references.append(read_image(source))
                    images.append(read_image(path))
                    batch.append(target)
                except UnreadableImageError as exc:
                    if len(references) > len(images):
                        references.pop()
                    report.skipped.append((path, str(exc)))
            if images:
                colours = colorize(images, references if reference is not None else None)
                for target, colour in zip(batch, colours, strict=True):
                    written = out / target
                    written.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(colour).save(written)
                    report.written.append(written)
                shown += list(zip(images, colours, strict=True))[: SHEET_ROWS - len(shown)]
            bar.update(len(files[start : start + batch_size]))
    if sheet is not None and shown:
        sheet.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(side_by_side(shown)).save(sheet)
        report.sheet = sheet
    return report
