"""`ganime evaluate EXPERIMENT.yaml | --checkpoint PATH | --model URI`: FID, KID and SSIM on a
data split, as JSON. An experiment file names a method that trains nothing (NST, Fast NST)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganime_core.errors import GanimeError
from ganime_core.splits import EVALUATED, TEST
from orchestration.cli.options import (
    add_no_progress,
    add_overrides,
    add_ray_address,
    check_limit,
)


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="FID, KID and SSIM of a trained generator, or of NST / Fast NST, on a data split",
    )
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "experiment",
        nargs="?",
        type=Path,
        metavar="EXPERIMENT.yaml",
        help="a method that trains nothing (model.family nst or fast_nst), e.g. "
        "experiments/nst.yaml; --set overrides its values",
    )
    source.add_argument(
        "--checkpoint", type=Path, help="an epoch-NNNN checkpoint folder, or a run folder (newest)"
    )
    source.add_argument(
        "--model", help="an MLflow model URI, e.g. runs:/RUN_ID/generator or models:/NAME@ALIAS"
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        default=None,
        help="Kaggle-layout folder (train/ and val/); default: the data the model was trained on",
    )
    evaluate.add_argument(
        "--split",
        choices=EVALUATED,
        default=TEST,
        help="test (default): the data set's held-out val/ folder, which nothing is chosen on; "
        "selection: the images carved from train/ that training and sweeps choose on",
    )
    evaluate.add_argument("--limit", type=int, default=None, help="first N images of the split")
    add_overrides(
        evaluate,
        help="override a value of the model's (or experiment's) config, e.g. "
        "metrics.batch_size=16 (repeatable)",
    )
    add_no_progress(evaluate)
    ray_options = evaluate.add_argument_group(
        "Ray (EXPERIMENT.yaml only)", "spread the split over Ray tasks, e.g. NST on a GPU cluster"
    )
    ray_options.add_argument(
        "--workers", type=int, default=1, help="Ray tasks, each a contiguous shard of the split"
    )
    ray_options.add_argument("--cpus-per-worker", type=int, default=1)
    ray_options.add_argument("--gpus-per-worker", type=int, default=0)
    add_ray_address(ray_options)
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_limit(args.limit)
    if args.workers < 1 or args.cpus_per_worker < 1 or args.gpus_per_worker < 0:
        raise GanimeError("--workers and --cpus-per-worker must be >= 1, --gpus-per-worker >= 0")
    if args.experiment is None and args.workers > 1:
        raise GanimeError("--workers spreads an EXPERIMENT.yaml's evaluation; not --checkpoint")
    # Imported here, not above: it loads TensorFlow and MLflow, which --help need not wait for.
    from orchestration.release.evaluate import (
        evaluate_checkpoint,
        evaluate_experiment,
        evaluate_model,
    )

    options = dict(
        split=args.split, limit=args.limit, overrides=args.overrides, progress=not args.no_progress
    )
    if args.experiment is not None:
        from orchestration.release.shards import ShardResources

        summary = evaluate_experiment(
            args.experiment,
            args.data,
            **options,
            workers=args.workers,
            resources=ShardResources(args.cpus_per_worker, args.gpus_per_worker),
            address=args.address,
        )
    elif args.checkpoint is not None:
        summary = evaluate_checkpoint(args.checkpoint, args.data, **options)
    else:
        summary = evaluate_model(args.model, args.data, **options)
    print(json.dumps(summary))
    return 0
