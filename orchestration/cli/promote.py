"""`ganime promote --sweep NAME | --run RUN_ID`: register a generator behind the test-split gate;
`--rollback MODEL` moves @champion back."""

from __future__ import annotations

import argparse

from ganime_core.metrics import names
from orchestration.cli.options import check_limit


def register(commands: argparse._SubParsersAction) -> None:
    promote = commands.add_parser(
        "promote",
        help="register a sweep's best generator in the MLflow Model Registry; move @champion "
        "to it if it beats the champion on the test split (which nothing was chosen on)",
    )
    which = promote.add_mutually_exclusive_group(required=True)
    which.add_argument("--sweep", metavar="NAME", help="the best trial of this sweep")
    which.add_argument("--run", dest="run_id", metavar="RUN_ID", help="this training run")
    which.add_argument(
        "--rollback",
        metavar="MODEL",
        help="move MODEL's @champion (e.g. ganime-pix2pix) back to the version it replaced",
    )
    # By default, what each run chose its best_generator by.
    promote.add_argument("--metric", choices=tuple(names.MODES), default=names.BEST_BY)
    promote.add_argument(
        "--min-improvement",
        type=float,
        default=0.0,
        metavar="X",
        help="the candidate must beat the champion by at least X in the metric (default 0: "
        "strictly better)",
    )
    promote.add_argument(
        "--limit",
        type=int,
        default=None,
        help="test images to measure on (default: the whole test split)",
    )
    promote.add_argument(
        "--pick",
        metavar="METRIC:FRACTION",
        help="of a multi-objective sweep: the trial on its Pareto front with the best METRIC "
        "among those within FRACTION of the best of its other metrics, e.g. ssim:0.05 "
        "(default: the rule in the sweep file)",
    )
    promote.add_argument(
        "--dry-run", action="store_true", help="say what would happen; change nothing"
    )
    promote.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not above: MLflow takes seconds to import, which --help need not wait for.
    from orchestration.release.promote import FrontPick, promote, rollback
    from orchestration.tracking.runs import browse_hint, tracking_uri

    if args.rollback:
        print("\n".join(rollback(tracking_uri(), args.rollback, dry_run=args.dry_run)))
        return 0
    check_limit(args.limit)
    promotion = promote(
        tracking_uri(),
        sweep=args.sweep,
        run_id=args.run_id,
        metric=args.metric,
        min_improvement=args.min_improvement,
        limit=args.limit,
        dry_run=args.dry_run,
        pick=FrontPick.parse(args.pick) if args.pick else None,
    )
    print("\n".join(promotion.lines()))
    if not args.dry_run:
        print(f"see {promotion.name} in the MLflow UI: {browse_hint(f'#/models/{promotion.name}')}")
    return 0
