"""How many of a job's runs fit on the cluster at once, and what the cluster offers."""

from __future__ import annotations

import os
import subprocess

import ray

from orchestration.jobs.spec import TrialResources


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
