"""A downloaded data set archive, unpacked into the paired layout `data.path` expects (`train/`,
`val/`) and verified, so that a folder only ever looks complete once it is.

Kaggle's `anime-sketch-colorization-pair` zip holds `data/train/*.png` and `data/val/*.png`
(each a colour | sketch pair side by side). The split folders are found wherever the archive
nests them, the shallowest copy wins (so a duplicated `data/data/` is neither unpacked nor
counted twice), and only their files are unpacked.

A folder is complete when it holds MARKER, which is written inside a staging folder next to the
destination before one rename puts the whole folder in place: an interrupted unpack leaves a
staging folder `.NAME.unpack-*` (removed by the next attempt), never a half-filled destination.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ganime_core.errors import DataError, GanimeError
from ganime_core.splits import FOLDERS  # the Kaggle archive is paired: train/ and val/

log = logging.getLogger(__name__)

MARKER = ".ganime-download.json"  # outside the split folders, so the scan never sees it
# What an archive that is cut short or damaged raises while it is read.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclass(frozen=True)
class InstalledDataset:
    """A complete data folder: what it was downloaded from, its files per split, and the data
    scan's one-line account of each split (None until the scan has run)."""

    dataset: str
    folder: Path
    counts: dict[str, int]
    scan: dict[str, str] | None = None

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "counts": self.counts, "scan": self.scan}


def split_members(archive: zipfile.ZipFile) -> dict[str, list[zipfile.ZipInfo]]:
    """The files directly inside the archive's shallowest `train/` and `val/` pair of folders."""
    by_parent: dict[PurePosixPath, list[zipfile.ZipInfo]] = {}
    for member in archive.infolist():
        path = PurePosixPath(member.filename)
        if not member.is_dir() and path.name not in ("", ".", ".."):
            by_parent.setdefault(path.parent, []).append(member)
    roots = {parent.parent for parent in by_parent if parent.name in FOLDERS}
    complete = [r for r in roots if all(r / folder in by_parent for folder in FOLDERS)]
    if not complete:
        top = sorted({PurePosixPath(m.filename).parts[0] for m in archive.infolist()})
        raise GanimeError(
            f"the archive holds no {' and '.join(f + '/' for f in FOLDERS)} folders of files "
            f"(its top level: {', '.join(top[:5]) or 'empty'}); is it the paired Kaggle set?"
        )
    root = min(complete, key=lambda r: (len(r.parts), str(r)))
    return {folder: by_parent[root / folder] for folder in FOLDERS}


def unpack_to_staging(archive_path: Path, destination: Path, *, progress: bool) -> Path:
    """Unpack the archive's split folders into a new staging folder beside `destination` and
    return it; a damaged archive raises GanimeError and leaves no staging folder."""
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(destination), dir=destination.parent))
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = split_members(archive)
            total = sum(len(files) for files in members.values())
            with tqdm(total=total, desc="unpacking", unit="file", disable=not progress) as bar:
                for folder, files in members.items():
                    for _ in _extract(archive, files, staging / folder):
                        bar.update()
    except DAMAGED as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise GanimeError(
            f"the downloaded archive {archive_path.name} is damaged or cut short ({exc}); "
            "run the command again to download it afresh"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _extract(
    archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], folder: Path
) -> Iterator[Path]:
    """Each member into `folder` under its own base name (so no member can write elsewhere)."""
    folder.mkdir(parents=True)
    for member in files:
        target = folder / PurePosixPath(member.filename).name
        with archive.open(member) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)  # reading to the end checks the CRC
        yield target


def count_files(folder: Path) -> dict[str, int]:
    """Files per split folder: one file is one colour | sketch pair."""
    return {
        name: sum(1 for entry in os.scandir(folder / name) if entry.is_file()) for name in FOLDERS
    }


def check_counts(counts: dict[str, int], expected: dict[str, int] | None, dataset: str) -> None:
    if expected is not None and counts != expected:
        raise GanimeError(
            f"{dataset} should hold {describe_counts(expected)} pairs but the archive holds "
            f"{describe_counts(counts)}; pass --allow-other-counts to install it anyway"
        )


def install(staging: Path, destination: Path, dataset: str, counts: dict[str, int]) -> None:
    """Mark `staging` complete and rename it to `destination` (absent, or an empty folder)."""
    write_marker(InstalledDataset(dataset, destination, counts), staging)
    try:
        os.replace(staging, destination)  # atomic; replaces an empty folder, never a full one
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise GanimeError(
            f"could not move the unpacked data into {destination} ({exc.strerror}); it must be "
            "absent or an empty folder"
        ) from None


def installed(folder: Path) -> InstalledDataset | None:
    """The complete download in `folder`, or None if it holds none. GanimeError if its files
    changed since (a split folder lost or gained files)."""
    try:
        record = json.loads((folder / MARKER).read_text())
        found = InstalledDataset(record["dataset"], folder, record["counts"], record.get("scan"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        now = count_files(folder)
    except OSError:
        now = None
    if now != found.counts:
        raise GanimeError(
            f"{folder} changed since {found.dataset} was downloaded into it (it holds "
            f"{describe_counts(now) if now else 'no split folders'}, the download "
            f"{describe_counts(found.counts)}); remove it and download again"
        )
    return found


def write_marker(found: InstalledDataset, folder: Path) -> None:
    """Atomic, so a marker is either whole or absent."""
    tmp = folder / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(found.to_json(), indent=2))
    os.replace(tmp, folder / MARKER)


def scan(found: InstalledDataset, *, image_size: int, cache_dir: Path) -> InstalledDataset:
    """The data scan's account of each split, recorded in the marker. Scanned in place, after
    the rename, because its cache is kept per folder path: training then reuses it."""
    # The scan decodes each file with the input pipeline's TensorFlow decoder: imported only
    # here, so a rerun on a complete folder answers without it.
    from ganime_core.data.scan import index_split

    log.info("checking every file of %s with the data scan", found.folder)
    accounts = {}
    for folder in FOLDERS:
        try:
            index = index_split(
                found.folder / folder, paired=True, image_size=image_size, cache_dir=cache_dir
            )
        except DataError as exc:
            raise GanimeError(f"{exc}; remove {found.folder} and download again") from None
        accounts[folder] = index.describe()
    scanned = InstalledDataset(found.dataset, found.folder, found.counts, accounts)
    write_marker(scanned, found.folder)
    return scanned


def staging_prefix(destination: Path) -> str:
    return f".{destination.name}.unpack-"


def remove_stale_staging(destination: Path) -> None:
    """Staging folders an interrupted earlier attempt left beside `destination`."""
    for stale in destination.parent.glob(f"{staging_prefix(destination)}*"):
        shutil.rmtree(stale, ignore_errors=True)


def describe_counts(counts: dict[str, int]) -> str:
    """E.g. '14224 train / 3545 val'."""
    return " / ".join(f"{n} {split}" for split, n in counts.items())
