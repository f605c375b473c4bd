"""Index a data folder: which files train, which are skipped and why, and the data's content hash.

Every image is decoded once here with the same TensorFlow decoder the input pipeline uses, so a
file that passes the scan cannot fail mid-epoch, and a bad file is counted, never silently dropped.
Results are cached per folder and re-used for files whose size and mtime are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from ganime_core.errors import DataError

DATA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})  # the images a data folder holds
# A half upscaled more than 4x to the training size holds no detail worth learning from.
MAX_UPSCALE = 4
_CACHE_VERSION = 1


@dataclass(frozen=True)
class SplitIndex:
    """The usable images of one folder, in name order, and an account of the rest."""

    folder: Path
    files: tuple[Path, ...]
    content_hash: str
    skipped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # reason -> file names
    ignored: tuple[str, ...] = ()  # files that are not images by their suffix
    converted: int = 0  # grayscale / RGBA / odd-width images made usable

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        """One line, e.g. 'train: 900 images (skipped 1: 1 corrupt [a.png])'."""
        notes = []
        if self.skipped:
            total = sum(len(names) for names in self.skipped.values())
            reasons = ", ".join(
                f"{len(names)} {reason} [{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}]"
                for reason, names in sorted(self.skipped.items())
            )
            notes.append(f"skipped {total}: {reasons}")
        if self.ignored:
            notes.append(f"ignored {len(self.ignored)} non-image file(s)")
        if self.converted:
            notes.append(f"converted {self.converted} grayscale/RGBA/odd-width image(s)")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.folder.name}: {len(self.files)} images{suffix}"


def index_split(folder: Path, *, paired: bool, image_size: int, cache_dir: Path) -> SplitIndex:
    """Scan `folder`; raise DataError if it holds no usable image.

    paired: each file is colour | sketch side by side, so each half must be big enough.
    """
    folder = folder.resolve()
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    files_here = [e for e in entries if e.is_file()]
    candidates = [e for e in files_here if Path(e.name).suffix.lower() in DATA_SUFFIXES]
    ignored = tuple(e.name for e in files_here if Path(e.name).suffix.lower() not in DATA_SUFFIXES)

    cache_file = (
        cache_dir / "index" / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:24]}.json"
    )
    cached = _read_cache(cache_file)
    probes = _probe_all(candidates, cached)
    _write_cache(cache_file, probes)

    min_side = max(1, image_size // MAX_UPSCALE)
    files, digests, converted = [], [], 0
    skipped: dict[str, list[str]] = {}
    for entry in candidates:
        probe = probes[entry.name]
        if "error" in probe:
            skipped.setdefault("corrupt", []).append(entry.name)
            continue
        height, width, channels = probe["shape"]
        part_width = width // 2 if paired else width
        if min(height, part_width) < min_side:
            skipped.setdefault(f"smaller than {min_side} px a side", []).append(entry.name)
            continue
        converted += channels != 3 or (paired and width % 2 == 1)
        files.append(Path(entry.path))
        digests.append(f"{entry.name}:{probe['sha256']}")

    if not files:
        account = SplitIndex(folder, (), "", {k: tuple(v) for k, v in skipped.items()}, ignored)
        raise DataError(
            f"no usable image in {folder} ({account.describe()}); expected PNG or JPEG files"
            + (" holding colour | sketch side by side" if paired else "")
        )
    content_hash = hashlib.sha256("\n".join(digests).encode()).hexdigest()
    return SplitIndex(
        folder=folder,
        files=tuple(files),
        content_hash=content_hash,
        skipped={reason: tuple(names) for reason, names in skipped.items()},
        ignored=ignored,
        converted=converted,
    )


def _probe(path: str) -> dict:
    """Hash and decode one file: {"sha256", "shape"} or {"sha256", "error"}."""
    data = Path(path).read_bytes()
    probe: dict = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
        probe["shape"] = [int(d) for d in image.shape]
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        probe["error"] = str(exc).splitlines()[0][:200]
    return probe


def _probe_all(entries: Iterable[os.DirEntry], cached: dict) -> dict[str, dict]:
    """Probe files whose (size, mtime) changed since the cache was written; keep the rest."""
    probes, todo = {}, []
    for entry in entries:
        stat = entry.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        if cached.get(entry.name, {}).get("stat") == key:
            probes[entry.name] = cached[entry.name]
        else:
            todo.append((entry, key))
    # Decoding releases the GIL, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for (entry, key), probe in zip(
            todo, pool.map(lambda t: _probe(t[0].path), todo), strict=True
        ):
            probes[entry.name] = {**probe, "stat": key}
    return probes


def _read_cache(path: Path) -> dict:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache.get("files", {}) if cache.get("version") == _CACHE_VERSION else {}


def _write_cache(path: Path, probes: dict) -> None:
    """Atomic, so concurrent workers on one node never read a half-written cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"version": _CACHE_VERSION, "files": probes}))
        os.replace(tmp, path)
    except OSError:
        pass  # A read-only cache only costs a rescan next time.
