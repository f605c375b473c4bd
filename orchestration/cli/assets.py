"""`ganime assets list | fetch`: the pretrained files GANime uses (ganime_core/assets.py).

`list` reads the caches only (no TensorFlow); `fetch` downloads through Keras' get_file and TF
Hub's resolver, or installs files copied by hand with --from DIR (air-gapped clusters).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ganime_core.assets import ASSETS, AssetError, fetch_asset, inspect_asset, mirror_url
from ganime_core.errors import GanimeError

ALL = "all"


def register(commands: argparse._SubParsersAction) -> None:
    assets = commands.add_parser(
        "assets", help="pretrained weights and models: list, fetch"
    ).add_subparsers(dest="assets_command", required=True, metavar="COMMAND")
    listing = assets.add_parser(
        "list", help="each asset: where it is, its size and hash (checked), or that it is missing"
    )
    listing.set_defaults(run=list_assets)
    fetch = assets.add_parser(
        "fetch",
        help="download assets into Keras' and TF Hub's caches (hash-checked, file-locked)",
        description="Download into the caches Keras and TF Hub read, or install copied files. "
        "Mirror: --mirror, else $GANIME_ASSETS_MIRROR; an http(s) base URL holding "
        + ", ".join(_mirror_names())
        + ".",
    )
    fetch.add_argument(
        "names", nargs="*", default=[ALL], metavar="NAME", help=f"{', '.join(ASSETS)} or {ALL}"
    )
    fetch.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        metavar="DIR",
        help="install files copied by hand from DIR (same names as on a mirror) instead of "
        "downloading; a hub model may also be its extracted SavedModel folder",
    )
    fetch.add_argument(
        "--mirror", metavar="URL", help="http(s) base URL replacing the public origins"
    )
    fetch.set_defaults(run=fetch_assets)


def _mirror_names() -> list[str]:
    return [asset.mirrored("<mirror>").removeprefix("<mirror>/") for asset in ASSETS.values()]


def list_assets(args: argparse.Namespace) -> int:
    for name in ASSETS:
        print(inspect_asset(name).line())
    return 0


def fetch_assets(args: argparse.Namespace) -> int:
    names = _chosen(args.names)
    if args.from_dir is not None and not args.from_dir.is_dir():
        raise GanimeError(f"--from {args.from_dir}: no such folder")
    mirror = mirror_url(args.mirror)  # --mirror, else $GANIME_ASSETS_MIRROR; checked once
    # TF Hub prints its download progress only when asked; Keras' get_file always shows a bar.
    os.environ.setdefault("TFHUB_DOWNLOAD_PROGRESS", "1")
    if len(names) == 1:  # its own reason is the error line
        print(fetch_asset(names[0], mirror=mirror, from_dir=args.from_dir).line())
        return 0
    failed = []
    for name in names:
        try:
            print(fetch_asset(name, mirror=mirror, from_dir=args.from_dir).line(), flush=True)
        except AssetError as exc:
            print(f"{name}: not fetched: {exc}", flush=True)
            failed.append(name)
    if failed:
        raise GanimeError(
            f"{len(failed)} of {len(names)} assets not fetched ({', '.join(failed)}); "
            "the reasons are above"
        )
    return 0


def _chosen(names: list[str]) -> list[str]:
    if ALL in names:
        return list(ASSETS)
    unknown = [name for name in names if name not in ASSETS]
    if unknown:
        raise GanimeError(f"no asset {unknown[0]!r}; choose from {', '.join(ASSETS)} or {ALL}")
    return list(dict.fromkeys(names))  # in the order given, once each
