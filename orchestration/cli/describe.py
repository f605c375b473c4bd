"""`ganime describe EXPERIMENT`: each network's parameters and shapes, as JSON."""

from __future__ import annotations

import argparse
import json

from ganime_core.config import load_config
from ganime_core.describe import describe
from orchestration.cli.options import add_experiment


def register(commands: argparse._SubParsersAction) -> None:
    describe = commands.add_parser(
        "describe", help="print each network's parameters and shapes as JSON"
    )
    add_experiment(describe)
    describe.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.experiment, args.overrides)
    print(json.dumps(describe(config), indent=2))
    return 0
