"""`ganime colorize SKETCH_OR_FOLDER... -o OUTDIR`: colour PNGs at each sketch's own size, with a
registered MLflow model or a checkpoint; exit 1 if any file was skipped."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from ganime_core.errors import GanimeError
from orchestration.cli.options import add_no_progress


def register(commands: argparse._SubParsersAction) -> None:
    colorize = commands.add_parser(
        "colorize", help="colorize sketch files or folders into PNGs at each sketch's size"
    )
    colorize.add_argument("inputs", nargs="+", type=Path, metavar="SKETCH_OR_FOLDER")
    colorize.add_argument("-o", "--out", type=Path, required=True, metavar="OUTDIR")
    generator = colorize.add_mutually_exclusive_group(required=True)
    generator.add_argument(
        "--model", help="an MLflow model URI, e.g. models:/ganime-pix2pix@champion"
    )
    generator.add_argument(
        "--checkpoint", type=Path, help="an epoch-NNNN checkpoint folder, or a run folder (newest)"
    )
    colorize.add_argument(
        "--reference",
        type=Path,
        metavar="REF_OR_FOLDER",
        help="a reference colour image for every sketch, or a folder of them paired with the "
        "sketches by file name (NST, Fast NST)",
    )
    colorize.add_argument("--batch-size", type=int, default=16, help="sketches per batch")
    colorize.add_argument(
        "--sheet",
        type=Path,
        metavar="PNG",
        help="also write the first 16 sketches beside their colorizations into this PNG",
    )
    add_no_progress(colorize)
    colorize.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise GanimeError("--batch-size must be >= 1")
    # Imported here, not above: it loads TensorFlow and MLflow, which --help need not wait for.
    from orchestration.release.colorize import (
        checkpoint_colorizer,
        colorize_files,
        model_colorizer,
    )

    if args.model:
        make_colorizer = partial(model_colorizer, args.model)
    else:
        make_colorizer = partial(checkpoint_colorizer, args.checkpoint, args.batch_size)
    report = colorize_files(
        args.inputs,
        args.out,
        make_colorizer,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        sheet=args.sheet,
        reference=args.reference,
    )
    for path, why in report.skipped:
        print(f"ganime: skipped {path}: {why}", file=sys.stderr)
    print(json.dumps(report.summary()))
    return 1 if report.skipped else 0
