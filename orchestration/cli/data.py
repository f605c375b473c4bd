"""`ganime data synth --out DIR`: a seeded synthetic data set in the Kaggle layout, or only
sketches (input for `ganime colorize`). `ganime data download --out DIR`: the paper's Kaggle data
set, unpacked into that layout and verified."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ganime_core.config import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, default_cache_dir
from ganime_core.data.synth import PALETTE_MODES, write_sketches, write_synthetic_dataset
from ganime_core.errors import GanimeError
from orchestration.cli.options import add_no_progress
from orchestration.data.archive import describe_counts
from orchestration.data.kaggle import DEFAULT_DATASET, EXPECTED_COUNTS, download_dataset


def register(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="data sets").add_subparsers(
        dest="data_command", required=True, metavar="COMMAND"
    )
    synth = data.add_parser("synth", help="write a synthetic data set in the Kaggle layout")
    synth.add_argument("--out", type=Path, required=True, help="folder to create")
    synth.add_argument("--count", type=int, default=500, help="images, 80%% train / 20%% val")
    synth.add_argument("--size", type=int, default=256, help="side of each half, in pixels")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--palette",
        choices=PALETTE_MODES,
        default="tied",
        help="tied: each style variant has one colour (learnable from the lines); free: random "
        "colours per character, known only from its same-palette reference (references/)",
    )
    synth.add_argument(
        "--sketches-only",
        action="store_true",
        help="write COUNT sketch PNGs (no colour half, no splits): input for ganime colorize",
    )
    synth.set_defaults(run=synth_data)
    register_download(data)


def register_download(data: argparse._SubParsersAction) -> None:
    download = data.add_parser(
        "download",
        help="download a Kaggle data set into the paired layout (train/, val/) and verify it",
        description=(
            "Credentials as the kaggle package reads them: $KAGGLE_API_TOKEN or "
            "~/.kaggle/access_token (a token from https://www.kaggle.com/settings/api), or a "
            "legacy kaggle.json / $KAGGLE_USERNAME and $KAGGLE_KEY. A folder that already holds "
            "a complete download is left as it is, without contacting Kaggle."
        ),
    )
    download.add_argument("--out", type=Path, required=True, help="folder to create (data.path)")
    download.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        help="Kaggle data set, OWNER/NAME (default: %(default)s)",
    )
    download.add_argument(
        "--image-size",
        type=int,
        default=256,
        help="the size you will train at: the scan counts halves smaller than a quarter of it",
    )
    download.add_argument(
        "--allow-other-counts",
        action="store_true",
        help="install even if the split counts differ from the known ones "
        f"({describe_counts(EXPECTED_COUNTS[DEFAULT_DATASET])} for {DEFAULT_DATASET})",
    )
    add_no_progress(download, help="no progress bars")
    download.set_defaults(run=download_data)


def synth_data(args: argparse.Namespace) -> int:
    if args.sketches_only:
        try:
            paths = write_sketches(args.out, args.count, args.size, args.seed)
        except ValueError as exc:
            raise GanimeError(str(exc)) from None
        print(json.dumps({"out": str(args.out), "count": len(paths), "size": args.size}))
        return 0
    try:
        out = write_synthetic_dataset(
            args.out, args.count, args.size, args.seed, palette=args.palette
        )
    except (ValueError, FileExistsError) as exc:
        raise GanimeError(str(exc)) from None
    summary = {"out": str(out), "count": args.count, "size": args.size, "seed": args.seed}
    print(json.dumps({**summary, "palette": args.palette}))
    return 0


def download_data(args: argparse.Namespace) -> int:
    if not MIN_IMAGE_SIZE <= args.image_size <= MAX_IMAGE_SIZE:
        raise GanimeError(
            f"--image-size {args.image_size}: expected {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}"
        )
    result = download_dataset(
        args.out,
        dataset=args.dataset,
        image_size=args.image_size,
        cache_dir=default_cache_dir(),
        allow_other_counts=args.allow_other_counts,
        progress=not args.no_progress,
    )
    installed = result.installed
    if result.already_complete:
        print(
            f"{installed.folder} already holds a complete download of {installed.dataset}: "
            "nothing to do",
            file=sys.stderr,
        )
    for line in (installed.scan or {}).values():
        print(f"data {line}", file=sys.stderr)
    print(json.dumps(result.to_json()))
    return 0
