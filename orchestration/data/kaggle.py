"""`ganime data download`: a Kaggle data set, fetched with the `kaggle` package's API and the
credentials it documents, unpacked into the layout `data.path` expects and verified.

The client is a seam (KaggleClient): `kaggle_api()` makes the real one, tests pass a stand-in
that writes a zip. The order of the steps is what makes the command safe to run again:
1. a folder that already holds a complete download answers at once, without Kaggle;
2. no credentials: one line saying where to put them, before anything is written;
3. the archive goes to `.OUT.download/` beside OUT, where the package resumes a cut-off
   download; it is unpacked into a staging folder, counted, marked complete, and renamed to OUT
   in one step; then the data scan checks every image in place and its account is recorded.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ganime_core.errors import GanimeError
from orchestration.data import archive
from orchestration.data.credentials import SETTINGS_PAGE, redact, require_kaggle_credentials

log = logging.getLogger(__name__)

DEFAULT_DATASET = "ktaebum/anime-sketch-colorization-pair"
# The files (pairs) per split of the data sets GANime knows; the GANime paper trained on 14,224
# and tested on 3,545, Kaggle's train/ and val/ of this set.
EXPECTED_COUNTS = {DEFAULT_DATASET: {"train": 14224, "val": 3545}}
DATASET_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")


class KaggleClient(Protocol):
    """The part of `kaggle.api.kaggle_api_extended.KaggleApi` GANime uses."""

    def authenticate(self) -> None: ...

    def dataset_download_files(
        self, dataset: str, path: str | None = None, force: bool = False, quiet: bool = True
    ) -> None: ...


@dataclass(frozen=True)
class DownloadResult:
    """What `ganime data download` did: the complete folder, and whether it was already so."""

    installed: archive.InstalledDataset
    already_complete: bool

    def to_json(self) -> dict:
        return {
            "out": str(self.installed.folder),
            **self.installed.to_json(),
            "already_complete": self.already_complete,
        }


def kaggle_api() -> KaggleClient:
    """The kaggle package's client, not yet authenticated."""
    # Importing any kaggle module first runs `kaggle/__init__.py`, which authenticates at import
    # time, prints its help to stdout and swallows the failure: that is hushed here, and only
    # reached once credentials were found; `authenticate` below reports a failure in one line.
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi
    api = KaggleApi()
    # $VERBOSE makes the package print every request with its headers, the Authorization header
    # (the token, or the base64 of username:key) among them.
    api.args = [arg for arg in KaggleApi.args if arg != "--verbose"]
    return api


def download_dataset(
    out: Path,
    *,
    dataset: str = DEFAULT_DATASET,
    client_factory: Callable[[], KaggleClient] = kaggle_api,
    image_size: int = 256,
    cache_dir: Path,
    allow_other_counts: bool = False,
    progress: bool = True,
) -> DownloadResult:
    """Make `out` a complete, verified copy of the Kaggle data set `dataset` (paired layout).

    image_size: the size the data will train at; the scan counts halves too small for it.
    cache_dir: where the scan keeps its results (the experiment's `data.cache_dir`)."""
    if not DATASET_NAME.match(dataset):
        raise GanimeError(f"--dataset {dataset!r}: expected OWNER/NAME as in the Kaggle URL")
    out = out.expanduser().resolve()
    found = archive.installed(out)
    if found is not None:
        return DownloadResult(_complete(found, dataset, image_size, cache_dir), True)
    _check_free(out)
    source = require_kaggle_credentials()
    client = client_factory()
    authenticate(client, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    archive.remove_stale_staging(out)
    downloads = out.parent / f".{out.name}.download"
    archive_path = fetch_archive(client, dataset, downloads, source=source, progress=progress)
    try:
        staging = archive.unpack_to_staging(archive_path, out, progress=progress)
    except GanimeError:
        shutil.rmtree(downloads, ignore_errors=True)  # damaged: the next run downloads afresh
        raise
    counts = archive.count_files(staging)
    try:
        expected = None if allow_other_counts else EXPECTED_COUNTS.get(dataset)
        archive.check_counts(counts, expected, dataset)
    except GanimeError:
        shutil.rmtree(staging, ignore_errors=True)  # the archive stays: it downloaded whole
        raise
    archive.install(staging, out, dataset, counts)
    shutil.rmtree(downloads, ignore_errors=True)  # every file it held is in place
    placed = archive.InstalledDataset(dataset, out, counts)
    return DownloadResult(archive.scan(placed, image_size=image_size, cache_dir=cache_dir), False)


def _complete(
    found: archive.InstalledDataset, dataset: str, image_size: int, cache_dir: Path
) -> archive.InstalledDataset:
    """A folder that holds a complete download of `dataset`, scanned if an earlier run stopped
    before its scan finished."""
    if found.dataset != dataset:
        raise GanimeError(
            f"{found.folder} already holds {found.dataset}; choose another --out for {dataset}"
        )
    if found.scan is None:
        return archive.scan(found, image_size=image_size, cache_dir=cache_dir)
    return found


def _check_free(out: Path) -> None:
    """OUT must be new or an empty folder: the download replaces it whole, never merges."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GanimeError(
            f"{out} exists and is not an empty folder (nor a complete download); choose a new "
            "--out or remove it"
        )


def authenticate(client: KaggleClient, source: str) -> None:
    """Authenticate with the credentials found in `source`; GanimeError in one line if Kaggle
    refuses them or cannot be reached."""
    said = io.StringIO()
    try:
        # On failure the package prints several lines of help and calls exit(1).
        with contextlib.redirect_stdout(said):
            client.authenticate()
    except SystemExit:
        raise GanimeError(_rejected(source)) from None
    except Exception as exc:
        raise GanimeError(
            f"could not check the Kaggle credentials in {source} ({_first_line(exc)}); "
            "is Kaggle reachable from this machine?"
        ) from None
    for line in said.getvalue().splitlines():  # e.g. its warning about a world-readable key
        if line.strip():
            log.warning("kaggle: %s", redact(line))


def fetch_archive(
    client: KaggleClient, dataset: str, folder: Path, *, source: str, progress: bool
) -> Path:
    """Download `dataset`'s zip into `folder` (the package shows a progress bar and resumes a
    partial file left there) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # stdout carries the command's JSON result; the package's notes go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            client.dataset_download_files(dataset, path=str(folder), quiet=not progress)
    except Exception as exc:
        raise GanimeError(_download_failure(dataset, source, exc)) from None
    path = folder / f"{dataset.split('/')[1]}.zip"
    if not path.is_file():
        raise GanimeError(f"Kaggle sent no archive for {dataset} (expected {path})")
    return path


def _download_failure(dataset: str, source: str, exc: Exception) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return _rejected(source)
    if status == 403:
        return (
            f"Kaggle refused {dataset} (HTTP 403); open https://www.kaggle.com/datasets/"
            f"{dataset} and accept its terms, or check the token's permissions"
        )
    if status == 404:
        return f"Kaggle has no data set {dataset} (HTTP 404); check --dataset"
    return (
        f"downloading {dataset} from Kaggle failed ({_first_line(exc)}); run the command again "
        "to resume"
    )


def _rejected(source: str) -> str:
    return (
        f"Kaggle did not accept the credentials in {source}; create a new API token at "
        f"{SETTINGS_PAGE}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__)
