"""How a sweep searches, as Ray Tune objects: the search space, the searcher its `sampler`
names (Optuna's TPE, random or NSGA-II, or Tune's own variant generator for a grid and for PBT's
population), the scheduler its `scheduler` names (ASHA, PBT or none), and PBT's explore step.

spec.py validates which of them go together; this module only builds them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray import tune
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from ganime_core.metrics import names
from orchestration.ray_internals import (
    PopulationVariants,
    ResumableASHA,
    ResumableFIFO,
    SynchronousPBT,
)
from orchestration.sweep.spec import Dimension, Sweep, SweepConfig


def search_space(config: SweepConfig) -> dict[str, Any]:
    """Tune's domains for the searched keys (the sampler draws from them); a grid's values."""
    if config.sampler == "grid":
        return {
            key: tune.grid_search(dimension.grid(config.grid_points))
            for key, dimension in config.search.items()
        }
    space = {}
    for key, dimension in config.search.items():
        low_or_choices = dimension.extremes()
        if dimension.kind == "choice":
            space[key] = tune.choice(low_or_choices)
        elif dimension.kind == "integer":
            space[key] = tune.randint(low_or_choices[0], low_or_choices[1] + 1)  # high excluded
        else:
            space[key] = getattr(tune, dimension.kind)(*low_or_choices)  # loguniform, uniform
    return space


def searcher_limits_concurrency(config: SweepConfig) -> bool:
    """Whether the searcher itself caps the trials at once (Tune's variant generator), so
    TuneConfig's max_concurrent_trials is left unset (Tune warns that it ignores it)."""
    return config.sampler == "grid" or config.scheduler == "pbt"


def tune_samples(config: SweepConfig) -> int:
    """TuneConfig's num_samples: a grid is visited once (Tune counts repeats of it)."""
    return 1 if config.sampler == "grid" else config.num_samples


def searcher(sweep: Sweep, at_once: int) -> Searcher | BasicVariantGenerator:
    """Optuna's sampler for tpe, random and nsga2; Tune's variant generator for a grid (every
    point, in order) and for PBT, which evolves its population itself (Tune refuses a
    searcher under PBT), start_with's first, the rest drawn at random from the sweep's seed."""
    config = sweep.config
    if searcher_limits_concurrency(config):
        variants = PopulationVariants if config.scheduler == "pbt" else BasicVariantGenerator
        return variants(
            points_to_evaluate=[dict(point) for point in config.start_with] or None,
            random_state=config.seed,
            # Tune ignores max_concurrent_trials for this searcher: it caps the trials itself.
            # Not under PBT: the whole population must be live from the start (a cap would
            # hold the later trials back until the first had finished, and nothing would be
            # exploited); PBT pauses and resumes them in turn, as the resources allow.
            max_concurrent=0 if config.scheduler == "pbt" else at_once,
        )
    several = sweep.multi_objective
    return OptunaSearch(
        points_to_evaluate=[dict(point) for point in config.start_with] or None,
        sampler=_optuna_sampler(config),
        # Several metrics are the searcher's, each with its direction; one is TuneConfig's.
        metric=list(sweep.metric_keys) if several else None,
        mode=[names.mode(key) for key in sweep.metric_keys] if several else None,
    )


def _optuna_sampler(config: SweepConfig) -> optuna.samplers.BaseSampler:
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=config.seed)
    if config.sampler == "nsga2":
        # Optuna's default generation (50) would be all random at a sweep's size: half the
        # trials make a generation, so the second half is bred from the first.
        population = max(2, min(50, config.num_samples // 2))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=config.seed)
    return optuna.samplers.TPESampler(  # multi-objective too (MOTPE)
        n_startup_trials=config.tpe_startup_trials(), seed=config.seed
    )


def scheduler(config: SweepConfig) -> ResumableASHA | SynchronousPBT | ResumableFIFO:
    if config.scheduler == "asha":
        return ResumableASHA(
            time_attr=names.EPOCH,
            max_t=config.max_epochs,
            grace_period=config.asha.grace_period,
            reduction_factor=config.asha.reduction_factor,
        )
    if config.scheduler == "pbt":
        pbt = config.pbt
        return SynchronousPBT(
            time_attr=names.EPOCH,
            perturbation_interval=pbt.interval,
            quantile_fraction=pbt.quantile,
            # The explore is BoundedExplore's whole: Ray's own perturbs by factors without
            # bounds (a learning rate could leave its range) and resamples from Python's
            # unseeded global RNG.
            custom_explore_fn=BoundedExplore(
                config.search, pbt.resample_probability, pbt.perturbation_factors, config.seed
            ),
            # Every trial waits at each interval for the others: an exploit then takes a
            # donor at the same epoch, so a trial's record runs epoch after epoch, and the
            # interval epochs are the evaluated ones.
            synch=True,
        )
    return ResumableFIFO()


@dataclass
class BoundedExplore:
    """PBT's explore: from the donor's searched values, each resampled from its dimension with
    `resample_probability`, else perturbed (a range's value times a factor, clipped to its
    bounds; a choice's neighbour), from the sweep's seed."""

    search: dict[str, Dimension]
    resample_probability: float
    factors: tuple[float, ...]
    seed: int
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        explored = dict(config)
        for key, dimension in self.search.items():
            if self.rng.random() < self.resample_probability:
                explored[key] = dimension.sample(self.rng)
            else:
                explored[key] = dimension.perturb(config[key], self.rng, self.factors)
        return explored


def parent_params(sweep: Sweep) -> dict[str, Any]:
    """What the parent run shows of the search: metrics, sampler, scheduler."""
    config = sweep.config
    return {
        "metric": ", ".join(sweep.metric_keys),
        "mode": ", ".join(names.mode(key) for key in sweep.metric_keys),
        "sampler": config.sampler_line(),
        "scheduler": config.scheduler_line(),
    }
