"""`ganime data synth --out DIR`: a seeded synthetic data set in the Kaggle layout, or only
sketches (input for `ganime colorize`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganime_core.data.synth import write_sketches, write_synthetic_dataset
from ganime_core.errors import GanimeError


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
        "--sketches-only",
        action="store_true",
        help="write COUNT sketch PNGs (no colour half, no splits): input for ganime colorize",
    )
    synth.set_defaults(run=synth_data)


def synth_data(args: argparse.Namespace) -> int:
    if args.sketches_only:
        try:
            paths = write_sketches(args.out, args.count, args.size, args.seed)
        except ValueError as exc:
            raise GanimeError(str(exc)) from None
        print(json.dumps({"out": str(args.out), "count": len(paths), "size": args.size}))
        return 0
    try:
        out = write_synthetic_dataset(args.out, args.count, args.size, args.seed)
    except (ValueError, FileExistsError) as exc:
        raise GanimeError(str(exc)) from None
    print(json.dumps({"out": str(out), "count": args.count, "size": args.size, "seed": args.seed}))
    return 0
