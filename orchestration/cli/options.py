"""Arguments more than one command takes, and checks more than one command makes."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganime_core.errors import GanimeError

# What argparse's add_argument_group returns: arguments are added to it as to a parser.
ArgumentTarget = argparse.ArgumentParser | argparse._ArgumentGroup


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """--set KEY=VALUE, repeatable, into args.overrides."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )


def add_experiment(parser: argparse.ArgumentParser) -> None:
    """An experiment YAML file and --set overrides of its values."""
    parser.add_argument("experiment", type=Path, help="experiment YAML file (see experiments/)")
    add_overrides(
        parser, help="override a config value, e.g. --set model.lambda_tv=1e-3 (repeatable)"
    )


def add_ray_address(parser: ArgumentTarget) -> None:
    parser.add_argument(
        "--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or local Ray)"
    )


def add_no_progress(parser: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    parser.add_argument("--no-progress", action="store_true", help=help)


def check_limit(limit: int | None) -> None:
    """--limit N of the images measured: FID needs at least two."""
    if limit is not None and limit < 2:
        raise GanimeError(f"--limit {limit}: FID needs at least 2 images")
