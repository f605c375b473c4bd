"""The pretrained files GANime uses: their names, origins, hashes and cache folders, and the one
way they are fetched. Every other module asks here.

- `inception_v3`: Keras' InceptionV3 ImageNet weights without the top (FID/KID), in Keras' cache
  ($KERAS_HOME/models or ~/.keras/models), checked against Keras' md5.
- `vgg19`: Keras' VGG19 ImageNet weights with the top (Style2paints' fc1 style hint), likewise.
- `fast_nst`: the magenta arbitrary-image-stylization-v1-256 model (Fast NST), in TF Hub's cache
  ($TFHUB_CACHE_DIR), checked against a digest recorded at its first fetch (below).

Keras files are downloaded by `keras.utils.get_file` (its origins, its md5s, its progress bar)
into a staging folder beside the cache, checked, and moved into place with `os.replace`, under a
file lock beside the target: `get_file` alone writes straight to the final name and leaves a file
whose hash does not match, and two workers on a node would download the same file at once. The
file lands where `keras.applications.InceptionV3(weights="imagenet")` looks, so Keras finds it.

The TF Hub model is fetched by TF Hub's own resolver (`HttpCompressedFileResolver`: the handle
with `?tf-hub-format=compressed`, extracted to a temporary folder and renamed under hub's lock),
so `hub.load(handle)` then resolves it from the cache with no network. A mirror or `--from`
archive goes through the same `resolver.atomic_download` under the public handle's cache folder.
TF Hub publishes no hash for its archives and this project was built offline, so none is pinned
(none is invented): the first fetch records a SHA-256 of the extracted files beside the cache
folder and every later use checks the files against it. That catches a damaged or replaced
cache, not a tampered first download; `ganime assets list` prints the digest to compare nodes.

Each download shows progress: Keras' progress bar; TF Hub's byte count when
$TFHUB_DOWNLOAD_PROGRESS is set (`ganime assets fetch` sets it), else hub's log every 15 s.

Where files come from, first set wins: `--mirror` (the CLI), $GANIME_ASSETS_MIRROR (a node's
network), `assets.mirror` (the experiment), the public origins. A mirror is an http(s) base URL
(an S3 bucket through its https endpoint) holding `<mirror>/<Keras file name>` and
`<mirror>/<hub archive name>.tar.gz`. `--from DIR` installs the same names copied by hand.

No TensorFlow at import: `ganime assets list` and drivers only read the file system; Keras and
TF Hub are imported inside the functions that download.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ganime_core.config import check_mirror_url
from ganime_core.errors import GanimeError

if TYPE_CHECKING:
    from ganime_core.config import AssetsConfig

MIRROR_ENV = "GANIME_ASSETS_MIRROR"
KERAS_ORIGINS = "https://storage.googleapis.com/tensorflow/keras-applications"
# A mirror answer that stalls this long (seconds without a byte) fails instead of hanging a worker.
MIRROR_TIMEOUT = 60
# How long TF Hub waits on another process's lock that shows no progress before taking it over.
HUB_LOCK_TIMEOUT = 10 * 60


class AssetError(GanimeError):
    """An asset is missing, corrupt, or cannot be fetched; the message says how to provide it."""


@dataclass(frozen=True)
class KerasFile:
    """A weights file Keras downloads with `get_file(..., cache_subdir="models")`."""

    name: str
    what: str
    file_name: str
    origin: str
    md5: str  # Keras' own file_hash for this file

    def mirrored(self, mirror: str) -> str:
        return f"{mirror.rstrip('/')}/{self.file_name}"


@dataclass(frozen=True)
class HubModel:
    """A TF Hub model, cached by TF Hub under the SHA-1 of its handle."""

    name: str
    what: str
    handle: str
    archive_name: str  # <mirror>/<archive_name>.tar.gz, and the name --from DIR looks for

    @property
    def origin(self) -> str:
        return self.handle

    def mirrored(self, mirror: str) -> str:
        return f"{mirror.rstrip('/')}/{self.archive_name}.tar.gz"


Asset = KerasFile | HubModel

INCEPTION_V3 = KerasFile(
    name="inception_v3",
    what="InceptionV3 ImageNet weights, no top (FID/KID)",
    file_name="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    origin=f"{KERAS_ORIGINS}/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5="bcbd6486424b2319ff4ef7d526e38f63",
)
VGG19 = KerasFile(
    name="vgg19",
    what="VGG19 ImageNet weights with the top (Style2paints' fc1)",
    file_name="vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    origin=f"{KERAS_ORIGINS}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    md5="cbe5617147190e668d6c5d5026f83318",
)
FAST_NST = HubModel(
    name="fast_nst",
    what="magenta arbitrary-image-stylization-v1-256 (Fast NST)",
    handle="https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2",
    archive_name="arbitrary-image-stylization-v1-256_2",
)
ASSETS: dict[str, Asset] = {asset.name: asset for asset in (INCEPTION_V3, VGG19, FAST_NST)}


def asset_named(name: str) -> Asset:
    """The table's entry for `name`, or an AssetError listing the names there are."""
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"no asset {name!r}; choose from {', '.join(ASSETS)}") from None


# --- where the libraries keep them --------------------------------------------------------------


def keras_models_dirs() -> list[Path]:
    """Where Keras keeps downloaded weights, in the order it prefers: $KERAS_HOME/models, or
    ~/.keras/models and, when that is not writable, /tmp/.keras/models."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home)] if home else [Path.home() / ".keras", Path("/tmp/.keras")]
    return [base.expanduser() / "models" for base in bases]


def keras_download_dir() -> Path:
    """The first of `keras_models_dirs` that exists or can be made and is writable, created:
    where Keras' own `get_file` would write (it creates its home on import)."""
    for folder in keras_models_dirs():
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    looked = ", ".join(str(folder) for folder in keras_models_dirs())
    raise AssetError(f"no writable Keras cache: tried {looked}; set $KERAS_HOME to a writable one")


def hub_cache_dir() -> Path:
    """TF Hub's cache: $TFHUB_CACHE_DIR, else <temp dir>/tfhub_modules (its compressed-model
    resolver's fallback). Hub's --tfhub_cache_dir flag is not read: GANime never sets flags."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def hub_module_dir(model: HubModel) -> Path:
    """The folder TF Hub resolves `model.handle` to: its cache, named by the handle's SHA-1."""
    return hub_cache_dir() / hashlib.sha1(model.handle.encode("utf8")).hexdigest()


def digest_record(model: HubModel) -> Path:
    """Where the digest taken at first fetch is kept, beside TF Hub's own descriptor file."""
    module_dir = hub_module_dir(model)
    return module_dir.with_name(f"{module_dir.name}.ganime-sha256.txt")


# --- what is there ------------------------------------------------------------------------------

State = Literal["ok", "missing", "corrupt", "unrecorded"]


@dataclass(frozen=True)
class AssetStatus:
    """What `ganime assets list` reports: where the asset is, its size and hash, and whether the
    hash is the pinned one (or, for a hub model, the one recorded at first fetch)."""

    asset: Asset
    state: State
    path: Path | None  # where found; None when missing
    looked_in: tuple[Path, ...]
    size: int | None = None
    digest: str | None = None  # "md5:..." or "sha256:..."
    expected: str | None = None

    def line(self) -> str:
        name = f"{self.asset.name:<13}{self.state:<11}"
        if self.state == "missing":
            return name + "looked in " + ", ".join(str(path) for path in self.looked_in)
        size = f"{self.size / 1e6:.1f} MB"
        verdict = {
            "ok": "as pinned" if isinstance(self.asset, KerasFile) else "as recorded",
            "corrupt": f"expected {self.expected}",
            "unrecorded": "no digest recorded yet (recorded at its first use)",
        }[self.state]
        return f"{name}{self.path}  {size}  {self.digest} ({verdict})"


def inspect_asset(name: str) -> AssetStatus:
    """Find the asset and check its hash; reads files, downloads nothing, imports no TensorFlow."""
    asset = asset_named(name)
    if isinstance(asset, KerasFile):
        return _inspect_keras_file(asset)
    return _inspect_hub_model(asset)


def _inspect_keras_file(asset: KerasFile) -> AssetStatus:
    folders = tuple(keras_models_dirs())
    found = [folder / asset.file_name for folder in folders if (folder / asset.file_name).is_file()]
    if not found:
        return AssetStatus(asset, "missing", None, folders)
    statuses = [_keras_file_status(asset, path, folders) for path in found]
    # A good copy anywhere Keras looks serves; otherwise report the first, which Keras would use.
    return next((status for status in statuses if status.state == "ok"), statuses[0])


def _keras_file_status(asset: KerasFile, path: Path, folders: tuple[Path, ...]) -> AssetStatus:
    md5 = file_hash(path, "md5")
    state: State = "ok" if md5 == asset.md5 else "corrupt"
    return AssetStatus(
        asset, state, path, folders, path.stat().st_size, f"md5:{md5}", f"md5:{asset.md5}"
    )


def _inspect_hub_model(model: HubModel) -> AssetStatus:
    module_dir = hub_module_dir(model)
    looked_in = (module_dir,)
    if not (module_dir / "saved_model.pb").is_file():
        return AssetStatus(model, "missing", None, looked_in)
    digest = f"sha256:{tree_digest(module_dir)}"
    record = digest_record(model)
    expected = record.read_text().strip() if record.is_file() else None
    state: State = "unrecorded" if expected is None else "ok" if digest == expected else "corrupt"
    return AssetStatus(model, state, module_dir, looked_in, tree_size(module_dir), digest, expected)


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """The file's hex digest ("md5" for Keras' pinned hashes)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and SHA-256, in sorted order: the same files give
    the same digest on every node, whatever their timestamps or the archive they came in."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_hash(path)}\n".encode())
    return digest.hexdigest()


def tree_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


# --- where they come from -----------------------------------------------------------------------


def mirror_url(explicit: str | None = None, settings: AssetsConfig | None = None) -> str | None:
    """The mirror to fetch from: `explicit` (--mirror), then $GANIME_ASSETS_MIRROR (set per node
    or cluster, where the network is known), then `assets.mirror`; None = the public origins."""
    candidates = (
        ("--mirror", explicit),
        (f"${MIRROR_ENV}", os.environ.get(MIRROR_ENV)),
        ("assets.mirror", settings.mirror if settings is not None else None),
    )
    source, url = next(((source, url) for source, url in candidates if url), (None, None))
    return None if url is None else _checked_mirror(url, source)


def _checked_mirror(url: str, source: str) -> str:
    try:
        return check_mirror_url(url)
    except ValueError as exc:
        raise AssetError(f"{source}: {exc}") from None


def fetch_hint(asset: Asset) -> str:
    """The commands that provide `asset`, for the end of an error line."""
    command = f"ganime assets fetch {asset.name}"
    copied = asset.file_name if isinstance(asset, KerasFile) else f"{asset.archive_name}.tar.gz"
    return (
        f"run `{command}` where {asset.origin} can be reached, or `{command} --from DIR` with "
        f"{copied} copied into DIR, or point ${MIRROR_ENV} (or assets.mirror) at a mirror"
    )


# --- fetching -----------------------------------------------------------------------------------

Action = Literal["present", "downloaded", "installed"]


@dataclass(frozen=True)
class Fetched:
    """Where an asset now is, and how it got there ('present': it already was, verified)."""

    asset: Asset
    path: Path
    action: Action
    source: str  # the URL or file it came from; the path itself when present

    def line(self) -> str:
        if self.action == "present":
            return f"{self.asset.name}: already in {self.path} (verified)"
        return f"{self.asset.name}: {self.action} {self.source} -> {self.path} (verified)"


def fetch_asset(name: str, mirror: str | None = None, from_dir: Path | None = None) -> Fetched:
    """Make the asset present and verified in its library's cache: from `from_dir` if given,
    else from `mirror` (an http(s) base URL), else from its public origin. Locked, so processes
    on a node fetch a file once; a failed or mismatched download leaves nothing in the cache."""
    asset = asset_named(name)
    mirror = _checked_mirror(mirror, "mirror") if mirror else None
    if isinstance(asset, KerasFile):
        return _fetch_keras_file(asset, mirror, from_dir)
    return _fetch_hub_model(asset, mirror, from_dir)


def ensure_asset(name: str, settings: AssetsConfig | None = None) -> Path:
    """The asset's local path (a Keras file, or a hub model's SavedModel folder), for the code
    that runs a model: present and verified, else fetched if `settings.auto_fetch` (the default),
    else an AssetError naming the file, where it was looked for and the command that fixes it."""
    status = inspect_asset(name)
    if status.state == "ok":
        return status.path
    if status.state == "unrecorded":  # put there by hub.load outside GANime: its first use
        return _fetch_hub_model(status.asset, None, None).path
    if not auto_fetch_allowed(settings):
        raise AssetError(_missing_message(status, "assets.auto_fetch is off"))
    mirror = mirror_url(None, settings)
    try:
        return fetch_asset(name, mirror).path
    except AssetError as exc:
        asset = status.asset
        origin = asset.mirrored(mirror) if mirror else asset.origin
        raise AssetError(
            f"{_where(status)} and fetching it from {origin} failed ({exc}); {fetch_hint(asset)}"
        ) from None


def auto_fetch_allowed(settings: AssetsConfig | None) -> bool:
    """Whether a run may download a missing asset: `assets.auto_fetch`, on by default."""
    return settings.auto_fetch if settings is not None else True


def missing_message(name: str, why: str) -> str:
    """One line: the asset is not where its library looks, `why` it was not fetched, the fix."""
    return _missing_message(inspect_asset(name), why)


def _missing_message(status: AssetStatus, why: str) -> str:
    return f"{_where(status)} and {why}; {fetch_hint(status.asset)}"


def _where(status: AssetStatus) -> str:
    asset = status.asset
    what = asset.file_name if isinstance(asset, KerasFile) else asset.handle
    if status.state == "corrupt":
        return f"{status.path} ({what}) does not match its {status.expected}"
    folders = ", ".join(str(folder) for folder in status.looked_in)
    return f"{what} is not in {folders}"


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<target dir>/.<name>.lock` (fcntl.flock): one process or
    thread at a time fetches `target`. The lock file stays (empty): deleting it would let a
    waiter lock a file that no longer exists."""
    lock_path = target.with_name(f".{target.name}.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_keras_file(asset: KerasFile, mirror: str | None, from_dir: Path | None) -> Fetched:
    folder = keras_download_dir()
    target = folder / asset.file_name
    with file_lock(target):
        present = _inspect_keras_file(asset)
        if present.state == "ok":  # the pinned hash: a copy in --from DIR could be no better
            return Fetched(asset, present.path, "present", str(present.path))
        _remove_stale_staging(folder, asset.file_name)
        with tempfile.TemporaryDirectory(
            prefix=f".{asset.file_name}.", suffix=".staging", dir=folder
        ) as staging:
            if from_dir is not None:
                source = str(_copy_keras_file(asset, from_dir, Path(staging)))
                action: Action = "installed"
            else:
                source = asset.mirrored(mirror) if mirror else asset.origin
                _download_keras_file(asset, source, Path(staging))
                action = "downloaded"
            os.replace(Path(staging) / asset.file_name, target)  # atomic: same file system
    return Fetched(asset, target, action, source)


def _remove_stale_staging(folder: Path, file_name: str) -> None:
    # Staging folders live only while their owner holds the lock, which we now hold: any left
    # are from a process that was killed mid-download.
    for stale in folder.glob(f".{file_name}.*.staging"):
        shutil.rmtree(stale, ignore_errors=True)


def _download_keras_file(asset: KerasFile, url: str, staging: Path) -> None:
    # Imported here: Keras loads TensorFlow, which `ganime assets list` and drivers never need.
    import keras

    try:
        keras.utils.get_file(
            asset.file_name,
            url,
            file_hash=asset.md5,
            cache_dir=str(staging),
            cache_subdir=str(staging),  # absolute: get_file writes here, not into its cache
        )
    except ValueError:
        # get_file's hash check failed and left the file, in the staging folder only.
        staged = staging / asset.file_name
        if not staged.is_file() or file_hash(staged, "md5") == asset.md5:
            raise
        raise AssetError(
            f"{url}: the download does not match the pinned md5:{asset.md5}; nothing was kept"
        ) from None
    except Exception as exc:  # get_file re-raises URL errors as a bare Exception
        raise AssetError(one_line(exc)) from None


def _copy_keras_file(asset: KerasFile, from_dir: Path, staging: Path) -> Path:
    source = from_dir / asset.file_name
    if not source.is_file():
        raise AssetError(f"--from {from_dir}: no {asset.file_name} there")
    staged = staging / asset.file_name
    shutil.copyfile(source, staged)
    md5 = file_hash(staged, "md5")
    if md5 != asset.md5:
        raise AssetError(
            f"{source} has md5:{md5}, not the pinned md5:{asset.md5} of Keras' "
            f"{asset.file_name}; nothing was installed"
        )
    return source


def _fetch_hub_model(model: HubModel, mirror: str | None, from_dir: Path | None) -> Fetched:
    module_dir = hub_module_dir(model)
    module_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(module_dir):
        present = _inspect_hub_model(model)
        if present.state == "unrecorded":  # put there by hub.load outside GANime: first use
            _record_digest(model, present.digest)
        if present.state in ("ok", "unrecorded"):
            return Fetched(model, module_dir, "present", str(module_dir))
        if module_dir.exists():
            shutil.rmtree(module_dir)  # corrupt or incomplete: hub only fills a missing folder
        if from_dir is not None:
            source, fill = _hub_files_from(model, from_dir)
            _hub_atomic_download(model, _checked_before_rename(model, source, fill))
            action: Action = "installed"
        elif mirror is not None:
            source = model.mirrored(mirror)
            fill = _hub_archive_download(source)
            _hub_atomic_download(model, _checked_before_rename(model, source, fill))
            action = "downloaded"
        else:
            source = model.handle
            _hub_resolve(model)  # hub renames before we can look: checked just after
            action = "downloaded"
        try:
            digest = _checked_saved_model(model, module_dir, source)
        except AssetError:
            shutil.rmtree(module_dir, ignore_errors=True)
            raise
        _record_digest(model, digest)
    return Fetched(model, module_dir, action, source)


def _checked_before_rename(
    model: HubModel, source: str, fill: Callable[[str], None]
) -> Callable[[str], None]:
    """`fill`, then the checks, in hub's temporary folder: a bad model never enters the cache."""

    def fill_and_check(tmp_dir: str) -> None:
        fill(tmp_dir)
        _checked_saved_model(model, Path(tmp_dir), source)

    return fill_and_check


def _checked_saved_model(model: HubModel, folder: Path, source: str) -> str:
    """The digest of the SavedModel in `folder`; an AssetError if there is none, or if its files
    differ from those recorded at the first fetch."""
    if not (folder / "saved_model.pb").is_file():
        raise AssetError(
            f"{source}: no saved_model.pb at the archive's top level (make one with "
            f"tar -czf {model.archive_name}.tar.gz -C SAVED_MODEL_DIR .); nothing was kept"
        )
    digest = f"sha256:{tree_digest(folder)}"
    record = digest_record(model)
    recorded = record.read_text().strip() if record.is_file() else None
    if recorded is not None and recorded != digest:
        raise AssetError(
            f"{source}: its files ({digest}) differ from those first fetched ({recorded}); "
            f"nothing was kept (delete {record} to accept a new model)"
        )
    return digest


def _record_digest(model: HubModel, digest: str) -> None:
    record = digest_record(model)
    staged = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    staged.write_text(f"{digest}\n")
    os.replace(staged, record)


def _hub_resolve(model: HubModel) -> None:
    # Imported here: TF Hub loads TensorFlow, which `ganime assets list` and drivers never need.
    from tensorflow_hub import compressed_module_resolver

    # Hub's own resolver, exactly as hub.load(handle) fetches: `?tf-hub-format=compressed`,
    # extracted into a temporary folder and renamed into its cache under its lock.
    resolve = compressed_module_resolver.HttpCompressedFileResolver()
    try:
        resolve(model.handle)
    except Exception as exc:  # urllib, tarfile and TensorFlow errors alike
        raise AssetError(one_line(exc)) from None


def _hub_atomic_download(model: HubModel, fill: Callable[[str], None]) -> None:
    """Fill TF Hub's cache folder for `model.handle` through hub's `atomic_download`: `fill`
    writes the SavedModel into hub's temporary folder, which hub renames into place, or deletes
    if `fill` fails."""
    # Imported here: TF Hub loads TensorFlow, which `ganime assets list` and drivers never need.
    from tensorflow_hub import resolver

    try:
        resolver.atomic_download(
            model.handle,
            lambda _, tmp_dir: fill(tmp_dir),
            str(hub_module_dir(model)),
            HUB_LOCK_TIMEOUT,
        )
    except AssetError:
        raise
    except Exception as exc:  # urllib, tarfile and TensorFlow errors alike
        raise AssetError(one_line(exc)) from None


def _hub_archive_download(url: str) -> Callable[[str], None]:
    def fill(tmp_dir: str) -> None:
        # Imported here: TF Hub loads TensorFlow, which `ganime assets list` never needs.
        from tensorflow_hub import resolver

        with urllib.request.urlopen(url, timeout=MIRROR_TIMEOUT) as response:
            resolver.DownloadManager(url).download_and_uncompress(response, tmp_dir)

    return fill


def _hub_files_from(model: HubModel, from_dir: Path) -> tuple[str, Callable[[str], None]]:
    """What --from DIR installs for a hub model: DIR/<archive>.tar.gz, or the SavedModel folder
    DIR/<archive>/ already extracted."""
    archive = from_dir / f"{model.archive_name}.tar.gz"
    folder = from_dir / model.archive_name
    if archive.is_file():

        def extract(tmp_dir: str) -> None:
            # Imported here: TF Hub loads TensorFlow, which `ganime assets list` never needs.
            from tensorflow_hub import resolver

            with archive.open("rb") as handle:
                resolver.DownloadManager(str(archive)).download_and_uncompress(handle, tmp_dir)

        return str(archive), extract
    if (folder / "saved_model.pb").is_file():
        return str(folder), lambda tmp_dir: _copy_tree(folder, Path(tmp_dir))
    raise AssetError(
        f"--from {from_dir}: neither {archive.name} nor a SavedModel folder {folder.name}/ there"
    )


def _copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, dirs_exist_ok=True)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's whitespace collapsed, its type if it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
