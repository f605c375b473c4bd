"""`ganime train EXPERIMENT`: in this process, or data-parallel on Ray Train with --workers."""

from __future__ import annotations

import argparse
import json
import os

from ganime_core.config import ExperimentConfig, load_config
from ganime_core.errors import GanimeError
from orchestration.cli.options import add_experiment, add_no_progress, add_ray_address


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an experiment on this machine")
    add_experiment(train)
    add_no_progress(train)
    ray_options = train.add_argument_group("data-parallel training on Ray Train")
    ray_options.add_argument(
        "--workers", type=int, default=None, help="Ray Train workers (one replica each)"
    )
    ray_options.add_argument("--cpus-per-worker", type=int, default=1)
    ray_options.add_argument("--gpus-per-worker", type=int, default=0)
    add_ray_address(ray_options)
    ray_options.add_argument(
        "--storage",
        default=os.environ.get("GANIME_RAY_STORAGE"),
        help="checkpoint storage: folder, s3:// or gs:// URI (default: $GANIME_RAY_STORAGE, "
        "else train.output_dir/ray)",
    )
    ray_options.add_argument(
        "--max-failures", type=int, default=0, help="worker failures to recover from"
    )
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.experiment, args.overrides)
    config.require_trainable(str(args.experiment))
    if args.workers is not None:
        print(json.dumps(_train_on_ray(config, args)))
        return 0
    # Imported here, not above: it loads TensorFlow, which --help, a config error and a Ray
    # Train driver (--workers) must not wait for.
    from orchestration.training.local import train_locally

    print(json.dumps(train_locally(config, progress=not args.no_progress)))
    return 0


def _train_on_ray(config: ExperimentConfig, args: argparse.Namespace) -> dict[str, object]:
    if args.workers < 1 or args.cpus_per_worker < 1 or args.gpus_per_worker not in (0, 1):
        raise GanimeError(
            "--workers and --cpus-per-worker must be >= 1, --gpus-per-worker 0 or 1 (each "
            "worker is one replica: a node with 4 GPUs runs 4 workers)"
        )
    # Imported here, not above: Ray takes seconds to import, which --help need not wait for.
    from orchestration.training.ray_train import Scaling, train_on_ray

    scaling = Scaling(args.workers, args.cpus_per_worker, args.gpus_per_worker)
    trained = train_on_ray(
        config,
        scaling,
        address=args.address,
        storage=args.storage,
        max_failures=args.max_failures,
    )
    return trained.summary()
