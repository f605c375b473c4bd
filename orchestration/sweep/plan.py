"""What a sweep (or a compare) asks of the cluster, and how many of its runs go at once
(`--dry-run`)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import ray

from orchestration.sweep.spec import Sweep, TrialResources


@dataclass(frozen=True)
class Plan:
    """What a sweep asks of the cluster and how many of its trials fit at once."""

    trial_cpus: int
    trial_gpus: int
    cluster_cpus: float
    cluster_gpus: float
    cluster: str  # where the totals come from
    at_once: int  # 0: not even one trial fits now

    def lines(self, sweep: Sweep) -> list[str]:
        config = sweep.config
        trial = config.trial
        width = max(len(key) for key in config.search)
        rungs = ", ".join(map(str, config.asha.rungs())) or "none"
        limit = config.max_concurrent_trials
        return [
            f"sweep {sweep.name}: {sweep.source} (base experiment: {config.experiment})",
            f"search: Optuna TPE (seed {config.seed}), {config.num_samples} trials "
            f"({len(config.start_with)} given by start_with), on {sweep.metric_key} "
            f"({config.objective_mode})",
            *(f"  {key:<{width}}  {dimension}" for key, dimension in config.search.items()),
            f"scheduler: ASHA on epoch: grace period {config.asha.grace_period}, max "
            f"{config.asha.max_epochs} epochs, reduction factor {config.asha.reduction_factor} "
            f"(trials compared at epochs {rungs})",
            f"each trial: {trial.workers} Ray Train worker(s) x ({trial.cpus_per_worker} CPU, "
            f"{trial.gpus_per_worker} GPU) = {self.trial_cpus} CPU, {self.trial_gpus} GPU",
            f"cluster ({self.cluster}): {self.cluster_cpus:g} CPU, {self.cluster_gpus:g} GPU -> "
            f"{self.at_once} trial(s) at once"
            + (f" (max_concurrent_trials {limit})" if limit else ""),
        ]


def plan_sweep(sweep: Sweep, resources: dict[str, float], cluster: str) -> Plan:
    """Trials that fit at once in `resources` (Ray's cluster_resources()), capped by the sweep."""
    trial = sweep.config.trial
    at_once = runs_at_once(
        trial, resources, [sweep.config.num_samples, sweep.config.max_concurrent_trials]
    )
    return Plan(
        trial.workers * trial.cpus_per_worker,
        trial.workers * trial.gpus_per_worker,
        resources.get("CPU", 0.0),
        resources.get("GPU", 0.0),
        cluster,
        at_once,
    )


def runs_at_once(trial: TrialResources, resources: dict[str, float], caps: list[int | None]) -> int:
    """Runs of `trial`'s workers that fit at once in `resources`, at most each cap given."""
    fits = [int(resources.get("CPU", 0.0) // (trial.workers * trial.cpus_per_worker))]
    if trial.gpus_per_worker:
        fits.append(int(resources.get("GPU", 0.0) // (trial.workers * trial.gpus_per_worker)))
    fits += [cap for cap in caps if cap]
    return max(0, min(fits))


def local_resources() -> dict[str, float]:
    """What a local Ray started here would offer, without starting it."""
    gpus = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    else:
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
            gpus = listing.stdout.count("GPU ") if listing.returncode == 0 else 0
        except OSError:
            gpus = 0
    return {"CPU": float(len(os.sched_getaffinity(0))), "GPU": float(gpus)}


def cluster_resources(address: str | None) -> tuple[dict[str, float], str]:
    """The resources Ray offers now: the cluster's if connected, else this machine's."""
    if ray.is_initialized() or address or os.environ.get("RAY_ADDRESS"):
        if not ray.is_initialized():
            ray.init(address=address)
        return ray.cluster_resources(), "Ray cluster, now"
    return local_resources(), "local Ray, not started"
