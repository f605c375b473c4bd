"""`ganime` command line: one module per command, each registering its arguments next to the
handler that parses them, calls one function and prints the result.

Heavy imports (TensorFlow, Ray, MLflow) happen inside the command that needs them, so `ganime
--help` and config errors answer at once. Errors a user can cause end in one line, never a
traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ganime_core.errors import GanimeError
from orchestration.cli import (
    assets,
    colorize,
    compare,
    data,
    describe,
    evaluate,
    gpu_check,
    promote,
    sweep,
    train,
)

COMMANDS = (
    train,
    sweep,
    compare,
    describe,
    evaluate,
    promote,
    colorize,
    data,
    assets,
    gpu_check,
)  # in --help's order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganime", description="Train and compare anime-sketch colorization GANs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # MLflow's progress bars for each small artifact it reads back bury the lines a user needs
    # (TensorFlow's C++ start-up lines are quieted where orchestration is imported).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for ours in ("ganime_core", "orchestration"):
        logging.getLogger(ours).setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GanimeError as exc:
        print(f"ganime: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # a subclass may carry its own (an interrupt: 130)
    except KeyboardInterrupt:
        print("ganime: interrupted", file=sys.stderr)
        return 130
