"""What a sweep asks of the cluster, and how many of its trials go at once (`--dry-run`)."""

from __future__ import annotations

from dataclasses import dataclass

from ganime_core.metrics import names
from orchestration.jobs.plan import runs_at_once
from orchestration.sweep.spec import Sweep


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
        limit = config.max_concurrent_trials
        metrics = ", ".join(f"{key} ({names.mode(key)})" for key in sweep.metric_keys)
        return [
            f"sweep {sweep.name}: {sweep.source} (base experiment: {config.experiment})",
            f"search: {config.sampler_line()}, {config.num_samples} trials "
            f"({len(config.start_with)} given by start_with), on {metrics}",
            *(f"  {key:<{width}}  {dimension}" for key, dimension in config.search.items()),
            f"scheduler: {config.scheduler_line()}",
            f"each trial: {trial.workers} Ray Train worker(s) x ({trial.cpus_per_worker} CPU, "
            f"{trial.gpus_per_worker} GPU) = {self.trial_cpus} CPU, {self.trial_gpus} GPU",
            f"cluster ({self.cluster}): {self.cluster_cpus:g} CPU, {self.cluster_gpus:g} GPU -> "
            f"{self.at_once} trial(s) at once"
            + (f" (max_concurrent_trials {limit})" if limit else "")
            + (
                "; PBT's whole population is live, trained in turn"
                if config.scheduler == "pbt"
                else ""
            ),
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
