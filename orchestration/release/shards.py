"""A split's evaluation spread over Ray tasks (`ganime evaluate EXPERIMENT.yaml --workers N`).

NST optimizes every test image for 1,000 steps: the paper's 3,545 images are hours on one GPU.
The split's rows are cut into N contiguous shards; each Ray task colorizes and measures one
(`Evaluator.measure`: backbone features and SSIMs), and the driver concatenates them in row
order and scores them once, so the numbers are exactly those of one process (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from ganime_core.config import ExperimentConfig, parse_config
from ganime_core.families import build_colorizer


@dataclass(frozen=True)
class ShardResources:
    """What each shard's task takes: a GPU per task on a GPU cluster."""

    cpus: int = 1
    gpus: int = 0


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """[start, stop) of `shards` contiguous, near-equal shards of n rows (none empty)."""
    shards = max(1, min(shards, n))
    edges = [round(i * n / shards) for i in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def measure_on_ray(
    config: ExperimentConfig,
    split: str,
    n: int,
    shards: int,
    resources: ShardResources,
    keep: int = 0,
    address: str | None = None,
) -> Any:
    """The split's first n rows measured in `shards` Ray tasks: one Measurements, row order."""
    # The lazy seam: the driver's Evaluator already imported TensorFlow; this module stays
    # importable without it for the CLI's --help.
    from ganime_core.evaluation import Measurements

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    task = measure_shard.options(num_cpus=resources.cpus, num_gpus=resources.gpus)
    raw = config.model_dump(mode="json")
    bounds = shard_bounds(n, shards)
    futures = [
        task.remote(raw, split, start, stop, keep if i == 0 else 0)
        for i, (start, stop) in enumerate(bounds)
    ]
    return Measurements.concatenate(ray.get(futures))


@ray.remote
def measure_shard(raw: dict[str, Any], split: str, start: int, stop: int, keep: int) -> Any:
    """One shard, in its task: the method built here (its weights from this node's assets)."""
    from ganime_core.evaluation import Evaluator
    from ganime_core.train import configure_process

    config = parse_config(raw, source="shard config")
    # TensorFlow's pools sized to the task's CPUs (a worker process Ray reuses keeps its own).
    configure_process(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    colorizer = build_colorizer(config)
    return Evaluator(config, split=split).measure(colorizer, start, stop, keep)
