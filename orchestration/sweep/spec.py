"""A sweep file: a base experiment, a search space over its config keys, and how to search it.

    name: quickstart
    experiment: pix2pix_tv.yaml            # relative to this file
    overrides: {data.image_size: 32}       # set on the base experiment before the searched values
    search:
      model.lambda_tv: {loguniform: [1.0e-6, 1.0e-2]}
      model.lambda_l1: {uniform: [50, 200]}
      model.tv_norm: {choice: [l1, l2]}
    start_with: [{model.lambda_tv: 1.0e-4, model.lambda_l1: 100, model.tv_norm: l1}]
    num_samples: 6                         # trials, start_with's included
    metric: fid                            # names.Objective; or several: [fid, ssim] (a front)
    max_epochs: 4                          # a trial that is never stopped trains this many
    sampler: tpe                           # tpe | random | grid | nsga2 (several metrics)
    scheduler: asha                        # asha | pbt | none
    asha: {grace_period: 1, reduction_factor: 2}
    max_concurrent_trials: 2
    trial: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

`scheduler: pbt` takes `pbt: {interval: 2}` (epochs between exploits; quantile,
resample_probability, perturbation_factors as Ray Tune's PBT). `sampler: grid` visits every
combination: choices as listed, each range at `grid_points` values. Several metrics take
`pick: {prefer: ssim, within: 0.05}`: the trial `promote --sweep` takes from the front.

A trial evaluates where its scheduler decides (ASHA's rungs, PBT's intervals) and at its last
epoch unless the experiment sets `train.eval_every`. Neither TensorFlow nor Ray is imported
here: the driver validates a sweep, and every value it may give a trial, before anything starts.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ganime_core.config import (
    NAME_PATTERN,
    ExperimentConfig,
    Section,
    apply_overrides,
    describe_validation_error,
    parse_config,
    read_yaml_mapping,
    set_dotted,
)
from ganime_core.data.annotations import Annotations
from ganime_core.errors import ConfigError
from ganime_core.metrics import names, pareto
from ganime_core.pretrained import standins
from ganime_core.splits import SELECTION
from orchestration.jobs.spec import TrialResources

# `--set` keys under the experiment's sections go to the base experiment; every other key
# (name, seed included) to the sweep file. The config schema owns the list.
EXPERIMENT_SECTIONS = tuple(
    key
    for key, field in ExperimentConfig.model_fields.items()
    if field.annotation not in (str, int)  # name and seed are the sweep's own
)
KINDS = ("loguniform", "uniform", "integer", "choice")


class Dimension(Section):
    """One searched config key: exactly one of the four kinds."""

    loguniform: tuple[float, float] | None = None
    uniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = Field(None, description="inclusive bounds")
    choice: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Dimension:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of loguniform, uniform, integer, choice")
        if self.choice is not None:
            if not self.choice:
                raise ValueError("choice needs at least one value")
            return self
        low, high = getattr(self, given[0])
        if not low < high:
            raise ValueError(f"{given[0]}: lower bound {low} must be below upper bound {high}")
        if self.loguniform is not None and low <= 0:
            raise ValueError(f"loguniform: bounds must be positive, got {low}")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    def extremes(self) -> list[Any]:
        """The values that bound what a trial may get: both bounds, or every choice."""
        return list(getattr(self, self.kind))

    def contains(self, value: Any) -> bool:
        if self.choice is not None:
            return value in self.choice
        low, high = getattr(self, self.kind)
        return isinstance(value, int | float) and low <= value <= high

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(map(str, self.extremes()))})"

    def grid(self, points: int | None) -> list[Any]:
        """The values a grid visits: every choice or integer, or `points` values spaced evenly
        over a range (log-spaced for loguniform); [] if a range has no `points`."""
        if self.choice is not None:
            return list(self.choice)
        low, high = getattr(self, self.kind)
        if self.integer is not None:
            return list(range(low, high + 1))
        if points is None:
            return []
        if points == 1:
            return [math.sqrt(low * high) if self.loguniform else (low + high) / 2]
        if self.loguniform is not None:
            step = math.log(high / low) / (points - 1)
            inner = [low * math.exp(step * i) for i in range(1, points - 1)]
        else:
            inner = [low + (high - low) * i / (points - 1) for i in range(1, points - 1)]
        return [low, *inner, high]  # the bounds exactly, not a rounding beyond them

    def sample(self, rng: random.Random) -> Any:
        """A value drawn from the whole dimension (PBT's resample)."""
        if self.choice is not None:
            return rng.choice(self.choice)
        low, high = getattr(self, self.kind)
        if self.integer is not None:
            return rng.randint(low, high)
        if self.loguniform is not None:
            return math.exp(rng.uniform(math.log(low), math.log(high)))
        return rng.uniform(low, high)

    def perturb(self, value: Any, rng: random.Random, factors: tuple[float, ...]) -> Any:
        """`value` moved a little, within the bounds (PBT's explore): a range's value times one
        of `factors`, clipped; a choice's neighbour in the list."""
        if self.choice is not None:
            at = self.choice.index(value) if value in self.choice else 0
            return self.choice[min(max(at + rng.choice((-1, 1)), 0), len(self.choice) - 1)]
        low, high = getattr(self, self.kind)
        moved = min(max(value * rng.choice(factors), low), high)
        return int(round(moved)) if self.integer is not None else moved


class AshaSettings(Section):
    grace_period: int = Field(1, ge=1, description="epochs every trial runs before any stop")
    reduction_factor: int = Field(2, ge=2, description="1/reduction_factor of a rung continues")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "max_epochs" in raw:
            raise ValueError(
                f"max_epochs is the sweep's own now, for every scheduler: write "
                f"max_epochs: {raw['max_epochs']} beside asha"
            )
        return raw

    def rungs(self, max_epochs: int) -> list[int]:
        """The epochs at which ASHA compares trials (it stops the worse ones there)."""
        rungs, epoch = [], self.grace_period
        while epoch < max_epochs:
            rungs.append(epoch)
            epoch *= self.reduction_factor
        return rungs


class PbtSettings(Section):
    """Ray Tune's PopulationBasedTraining, synchronous: every `interval` epochs the trials in
    the bottom `quantile` take the state of one in the top quantile and explore from its
    searched values (each resampled with `resample_probability`, else perturbed)."""

    interval: int = Field(ge=1, description="epochs between exploits; each one is evaluated")
    quantile: float = Field(0.25, gt=0.0, le=0.5, description="bottom and top fraction")
    resample_probability: float = Field(0.25, ge=0.0, le=1.0)
    perturbation_factors: tuple[float, float] = (0.8, 1.2)

    def exploit_epochs(self, max_epochs: int) -> list[int]:
        return list(range(self.interval, max_epochs, self.interval))


class PickRule(Section):
    """Which trial of a front `promote --sweep` takes: the best `prefer` among the front's
    trials within `within` (a fraction) of the best value of every other metric."""

    prefer: names.Objective
    within: float = Field(0.05, ge=0.0, description="0.05: at most 5% worse than the best")

    def describe(self, others: list[str]) -> str:
        return pareto.describe_pick(self.prefer, others, self.within)


class SweepConfig(Section):
    name: str = Field(pattern=NAME_PATTERN)
    experiment: Path = Field(description="base experiment file, relative to the sweep file")
    overrides: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Dimension] = Field(min_length=1)
    start_with: list[dict[str, Any]] = Field(
        default_factory=list, description="trials to run first (Optuna's points_to_evaluate)"
    )
    num_samples: int = Field(ge=1, description="trials in all, start_with's included")
    metric: names.Objective | list[names.Objective] = names.BEST_BY
    mode: Literal["min", "max"] | None = Field(None, description="follows the metric if unset")
    seed: int = Field(0, ge=0, description="seeds the sampler (and PBT's explore)")
    max_epochs: int = Field(ge=1, description="epochs of a trial that is never stopped")
    sampler: Literal["tpe", "random", "grid", "nsga2"] = "tpe"
    scheduler: Literal["asha", "pbt", "none"] = "asha"
    asha: AshaSettings | None = None
    pbt: PbtSettings | None = None
    grid_points: int | None = Field(None, ge=1, description="values per range on a grid")
    startup_trials: int | None = Field(
        None,
        ge=1,
        description="trials drawn at random before TPE models the rest (Optuna's "
        "n_startup_trials); unset: a third of num_samples, at least 2",
    )
    pick: PickRule | None = None
    max_concurrent_trials: int | None = Field(
        None, ge=1, description="unset = as many as the cluster's resources hold"
    )
    trial: TrialResources = TrialResources()

    @model_validator(mode="before")
    @classmethod
    def _asha_by_default(cls, raw: Any) -> Any:
        """ASHA is the default scheduler, with its default settings."""
        if isinstance(raw, dict) and raw.get("scheduler", "asha") == "asha" and "asha" not in raw:
            return {**raw, "asha": {}}
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        for problem in (self._metric_problem(), self._pairing_problem(), self._grid_problem()):
            if problem:
                raise ValueError(problem)
        if self.asha and self.asha.grace_period > self.max_epochs:
            raise ValueError(
                f"asha.grace_period ({self.asha.grace_period}) exceeds max_epochs "
                f"({self.max_epochs})"
            )
        for i, point in enumerate(self.start_with):
            if set(point) != set(self.search):
                raise ValueError(f"start_with[{i}] must give exactly the searched keys")
            for key, value in point.items():
                if not self.search[key].contains(value):
                    raise ValueError(
                        f"start_with[{i}]: {key}={value!r} is outside {self.search[key]}"
                    )
        if len(self.start_with) > self.num_samples:
            raise ValueError("start_with has more trials than num_samples")
        return self

    def _metric_problem(self) -> str | None:
        objectives = self.objectives
        if len(set(objectives)) != len(objectives) or not objectives:
            return f"metric: {list(objectives)} must name each metric once"
        if len(objectives) == 1:
            if self.mode is not None and self.mode != names.mode(objectives[0]):
                return (
                    f"mode {self.mode} contradicts metric {objectives[0]} "
                    f"({names.mode(objectives[0])} is better); leave mode unset"
                )
            if self.pick is not None:
                return "pick chooses a trial from a front of several metrics; metric names one"
            return None
        if self.mode is not None:
            return "mode: several metrics each take their own direction; leave mode unset"
        if self.pick is not None and self.pick.prefer not in objectives:
            return f"pick.prefer: {self.pick.prefer} is not one of metric {list(objectives)}"
        return None

    def _pairing_problem(self) -> str | None:
        """Why this sampler, scheduler and metric cannot go together (None if they can)."""
        several = len(self.objectives) > 1
        for name in ("asha", "pbt"):
            if getattr(self, name) is not None and self.scheduler != name:
                return (
                    f"{name}: given, but scheduler is {self.scheduler}; drop it, or set "
                    f"scheduler: {name}"
                )
        if self.scheduler == "pbt" and self.pbt is None:
            return "scheduler pbt needs pbt: {interval: N} (epochs between exploits)"
        if several and self.scheduler != "none":
            return (
                f"scheduler {self.scheduler} ranks trials on one metric, and metric names "
                f"{len(self.objectives)}; a front needs every trial's last point: scheduler: none"
            )
        if self.sampler == "nsga2" and not several:
            return (
                "sampler nsga2 searches a front of several metrics; give metric: [fid, ssim], "
                "or sampler: tpe"
            )
        if self.scheduler == "pbt" and self.sampler in ("tpe", "nsga2"):
            return (
                f"scheduler pbt evolves its population itself and Ray Tune runs it without a "
                f"searcher, so sampler {self.sampler} would be ignored; use sampler: random or grid"
            )
        if self.scheduler == "pbt" and self.pbt.interval >= self.max_epochs:
            return (
                f"pbt.interval ({self.pbt.interval}) must be below max_epochs "
                f"({self.max_epochs}), or PBT never exploits"
            )
        if self.startup_trials is not None and self.sampler != "tpe":
            return f"startup_trials: only sampler tpe uses it, and sampler is {self.sampler}"
        if self.sampler == "grid" and self.start_with:
            return "sampler grid visits every point; start_with has nothing to add: drop it"
        return None

    def tpe_startup_trials(self) -> int:
        """Optuna's default, 10, suits studies of hundreds of trials: a sweep of 10 or fewer
        would be all random, TPE's first trials being its seeded random sampler's."""
        return self.startup_trials or max(2, self.num_samples // 3)

    def _grid_problem(self) -> str | None:
        if self.sampler != "grid":
            if self.grid_points is not None:
                return f"grid_points: only sampler grid uses it, and sampler is {self.sampler}"
            return None
        for key, dimension in self.search.items():
            if not dimension.grid(self.grid_points):
                return (
                    f"sampler grid needs values: search.{key} is {dimension.kind}; give "
                    "grid_points: N (N values over each range) or a choice"
                )
        size = len(self.grid_values())
        if self.num_samples != size:
            return f"the grid has {size} points; set num_samples: {size}"
        return None

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(self.metric) if isinstance(self.metric, list) else (self.metric,)

    @property
    def objective_mode(self) -> str:
        """The direction of the first metric (the one a single-metric sweep ranks by)."""
        return names.mode(self.objectives[0])

    def grid_values(self) -> list[dict[str, Any]]:
        """Every point of a grid sweep, in a fixed order."""
        keys = list(self.search)
        values = [self.search[key].grid(self.grid_points) for key in keys]
        return [dict(zip(keys, point, strict=True)) for point in itertools.product(*values)]

    def evaluated_epochs(self) -> list[int]:
        """Where the scheduler decides (ASHA's rungs, PBT's exploits) and the last epoch."""
        decided = []
        if self.scheduler == "asha":
            decided = self.asha.rungs(self.max_epochs)
        elif self.scheduler == "pbt":
            decided = self.pbt.exploit_epochs(self.max_epochs)
        return [*decided, self.max_epochs]

    def sampler_line(self) -> str:
        """The sampler as the dry run and the parent run show it."""
        if self.sampler == "grid":
            return f"grid ({self.num_samples} points)"
        if self.scheduler == "pbt":
            return f"Ray Tune's random population (seed {self.seed})"
        if self.sampler == "tpe":
            return f"Optuna TPE (seed {self.seed}, {self.tpe_startup_trials()} random first)"
        name = {"random": "random", "nsga2": "NSGA-II"}[self.sampler]
        return f"Optuna {name} (seed {self.seed})"

    def scheduler_line(self) -> str:
        if self.scheduler == "asha":
            rungs = ", ".join(map(str, self.asha.rungs(self.max_epochs))) or "none"
            return (
                f"ASHA on epoch: grace period {self.asha.grace_period}, max {self.max_epochs} "
                f"epochs, reduction factor {self.asha.reduction_factor} (trials compared at "
                f"epochs {rungs})"
            )
        if self.scheduler == "pbt":
            p = self.pbt
            return (
                f"PBT (synchronous) on epoch: every {p.interval} epochs the bottom "
                f"{p.quantile:.0%} take a top trial's state and explore (resample "
                f"{p.resample_probability:.0%}, else x{p.perturbation_factors}), {self.max_epochs} "
                "epochs"
            )
        return f"none: every trial trains {self.max_epochs} epochs"


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its file, the base experiment every trial starts from, and the names
    of the metrics the trials report and are ranked by: on the selection split, marked with
    the stand-ins the workers will load (selection_fid, selection_fid_untrained_inception, ...);
    one, or several for a front."""

    config: SweepConfig
    base: ExperimentConfig
    metric_keys: tuple[str, ...]
    source: Path

    @property
    def metric_key(self) -> str:
        """The first metric: what a single-metric sweep ranks by, the live table shows."""
        return self.metric_keys[0]

    @property
    def multi_objective(self) -> bool:
        return len(self.metric_keys) > 1

    @property
    def name(self) -> str:
        return self.config.name

    def to_record(self) -> dict[str, Any]:
        """The resolved sweep as JSON-able data: saved with the sweep, handed to each trial."""
        return {
            "sweep": self.config.model_dump(mode="json"),
            "base": self.base.model_dump(mode="json"),
            "metric_keys": list(self.metric_keys),
            "source": str(self.source),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sweep:
        return cls(
            SweepConfig.model_validate(record["sweep"]),
            parse_config(record["base"], source=f"sweep {record['sweep']['name']}"),
            tuple(record["metric_keys"]),
            Path(record["source"]),
        )

    def trial_config(self, params: dict[str, Any]) -> ExperimentConfig:
        """The base experiment with one trial's searched values."""
        return self.base.replace(params, source=f"sweep {self.name} trial {params}")


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> Sweep:
    """Read and validate a sweep file and its base experiment; one ConfigError line if wrong."""
    path = Path(path)
    raw = read_yaml_mapping(path, "sweep", "name, experiment, search, max_epochs, ...")
    sweep_sets, experiment_sets = [], []
    for override in overrides or []:
        section = override.split(".", 1)[0]
        (experiment_sets if section in EXPERIMENT_SECTIONS else sweep_sets).append(override)
    try:
        config = SweepConfig.model_validate(apply_overrides(raw, sweep_sets))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None

    experiment_path = config.experiment
    if not experiment_path.is_absolute():
        experiment_path = path.parent / experiment_path
    base_raw = read_yaml_mapping(experiment_path, "experiment", "name, data, model, ...")
    for key, value in config.overrides.items():
        set_dotted(base_raw, key, value)
    base_raw = apply_overrides(base_raw, experiment_sets)  # the command line wins
    # Trials are named after the sweep (its MLflow experiment) and run its epoch budget.
    base_raw["name"] = config.name
    set_dotted(base_raw, "train.epochs", config.max_epochs)
    if "eval_every" not in base_raw.get("train", {}):
        # Evaluate where the scheduler decides and at the end, not every few epochs: an
        # evaluation can cost more than an epoch of a small model.
        set_dotted(base_raw, "train.eval_every", 0)
        set_dotted(base_raw, "train.eval_epochs", config.evaluated_epochs())
    base = parse_config(base_raw, source=f"{path} (base experiment {experiment_path})")
    base.require_trainable(f"{path} (base experiment {experiment_path})")
    keys = tuple(_metric_key(objective, base) for objective in config.objectives)
    sweep = Sweep(config, base, keys, path)

    known = base.flat()
    for key, dimension in config.search.items():
        if key not in known or key in ("name", "seed"):
            raise ConfigError(f"{path}: search.{key}: not a searchable key of {experiment_path}")
        for value in dimension.extremes():
            try:
                base.replace({key: value})
            except ConfigError as exc:
                raise ConfigError(f"{path}: search.{key}: {value!r} is not valid: {exc}") from None
        if config.scheduler == "pbt" and key not in base.schedulable_keys():
            raise ConfigError(
                f"{path}: search.{key}: PBT changes the searched keys of running trials, and "
                f"this one shapes the networks; PBT may search "
                f"{', '.join(sorted(base.schedulable_keys()))}"
            )
    _check_evaluations_meet_decisions(sweep)
    return sweep


def _metric_key(objective: str, base: ExperimentConfig) -> str:
    """The name trials report `objective` under: selection_fid, or e.g.
    selection_fid_untrained_inception with the stand-in InceptionV3."""
    why = names.unmeasured_because(
        objective,
        uses_reference=base.model.needs_reference,
        annotated=base.data.path is None or Annotations.of(base.data.path) is not None,
        swap=base.metrics.swap,
    )
    if why is not None:
        raise ConfigError(f"metric: {objective}: its trials would never report it: {why}")
    # Raises when no InceptionV3 can be had; SSIM's name keeps only the VGG19 mark.
    return names.logged_name(objective, SELECTION, standins(base))


def _check_evaluations_meet_decisions(sweep: Sweep) -> None:
    """The scheduler decides on the metric (ASHA at its rungs, PBT at its exploits), and a
    front takes each trial's last point: every such epoch must be an evaluation epoch."""
    train = sweep.base.train
    epochs = sweep.config.evaluated_epochs()
    missed = [epoch for epoch in epochs if not train.evaluates(epoch)]
    if missed:
        raise ConfigError(
            f"{sweep.source}: scheduler {sweep.config.scheduler} decides at epochs "
            f"{epochs[:-1]} and trials end at {train.epochs}, but "
            f"train.eval_every={train.eval_every} evaluates none at {missed}; leave "
            "train.eval_every unset (a sweep then evaluates where it decides), or make it "
            "divide them"
        )
