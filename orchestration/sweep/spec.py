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
    metric: fid                            # names.Objective: fid, kid, ssim, part_delta_e, ...
    asha: {grace_period: 1, max_epochs: 4, reduction_factor: 2}
    max_concurrent_trials: 2
    trial: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

A trial evaluates at ASHA's rungs and its last epoch unless the experiment sets
`train.eval_every`. Neither TensorFlow nor Ray is imported here: the driver validates a sweep,
and every value it may give a trial, before anything starts.
"""

from __future__ import annotations

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
from ganime_core.metrics import names
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


class AshaSettings(Section):
    grace_period: int = Field(1, ge=1, description="epochs every trial runs before any stop")
    max_epochs: int = Field(ge=1, description="epochs of a trial that is never stopped")
    reduction_factor: int = Field(2, ge=2, description="1/reduction_factor of a rung continues")

    @model_validator(mode="after")
    def _grace_within_budget(self) -> AshaSettings:
        if self.grace_period > self.max_epochs:
            raise ValueError(
                f"grace_period ({self.grace_period}) exceeds max_epochs ({self.max_epochs})"
            )
        return self

    def rungs(self) -> list[int]:
        """The epochs at which ASHA compares trials (it stops the worse ones there)."""
        rungs, epoch = [], self.grace_period
        while epoch < self.max_epochs:
            rungs.append(epoch)
            epoch *= self.reduction_factor
        return rungs


class SweepConfig(Section):
    name: str = Field(pattern=NAME_PATTERN)
    experiment: Path = Field(description="base experiment file, relative to the sweep file")
    overrides: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Dimension] = Field(min_length=1)
    start_with: list[dict[str, Any]] = Field(
        default_factory=list, description="trials to run first (Optuna's points_to_evaluate)"
    )
    num_samples: int = Field(ge=1, description="trials in all, start_with's included")
    metric: names.Objective = names.BEST_BY
    mode: Literal["min", "max"] | None = Field(None, description="follows the metric if unset")
    seed: int = Field(0, ge=0, description="seeds Optuna's TPE sampler")
    asha: AshaSettings
    max_concurrent_trials: int | None = Field(
        None, ge=1, description="unset = as many as the cluster's resources hold"
    )
    trial: TrialResources = TrialResources()

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if self.mode is not None and self.mode != names.mode(self.metric):
            raise ValueError(
                f"mode {self.mode} contradicts metric {self.metric} "
                f"({names.mode(self.metric)} is better); leave mode unset"
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

    @property
    def objective_mode(self) -> str:
        return names.mode(self.metric)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its file, the base experiment every trial starts from, and the name
    of the metric the trials report and are ranked by: on the selection split, marked with the
    stand-ins the workers will load (selection_fid, selection_fid_untrained_inception, ...)."""

    config: SweepConfig
    base: ExperimentConfig
    metric_key: str
    source: Path

    @property
    def name(self) -> str:
        return self.config.name

    def to_record(self) -> dict[str, Any]:
        """The resolved sweep as JSON-able data: saved with the sweep, handed to each trial."""
        return {
            "sweep": self.config.model_dump(mode="json"),
            "base": self.base.model_dump(mode="json"),
            "metric_key": self.metric_key,
            "source": str(self.source),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sweep:
        return cls(
            SweepConfig.model_validate(record["sweep"]),
            parse_config(record["base"], source=f"sweep {record['sweep']['name']}"),
            record["metric_key"],
            Path(record["source"]),
        )

    def trial_config(self, params: dict[str, Any]) -> ExperimentConfig:
        """The base experiment with one trial's searched values."""
        return self.base.replace(params, source=f"sweep {self.name} trial {params}")


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> Sweep:
    """Read and validate a sweep file and its base experiment; one ConfigError line if wrong."""
    path = Path(path)
    raw = read_yaml_mapping(path, "sweep", "name, experiment, search, asha, ...")
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
    # Trials are named after the sweep (its MLflow experiment) and run ASHA's epoch budget.
    base_raw["name"] = config.name
    set_dotted(base_raw, "train.epochs", config.asha.max_epochs)
    if "eval_every" not in base_raw.get("train", {}):
        # Evaluate where ASHA decides and at the end, not every few epochs: an evaluation can
        # cost more than an epoch of a small model.
        set_dotted(base_raw, "train.eval_every", 0)
        rungs = [*config.asha.rungs(), config.asha.max_epochs]
        set_dotted(base_raw, "train.eval_epochs", rungs)
    base = parse_config(base_raw, source=f"{path} (base experiment {experiment_path})")
    base.require_trainable(f"{path} (base experiment {experiment_path})")
    sweep = Sweep(config, base, _metric_key(config, base), path)

    known = base.flat()
    for key, dimension in config.search.items():
        if key not in known or key in ("name", "seed"):
            raise ConfigError(f"{path}: search.{key}: not a searchable key of {experiment_path}")
        for value in dimension.extremes():
            try:
                base.replace({key: value})
            except ConfigError as exc:
                raise ConfigError(f"{path}: search.{key}: {value!r} is not valid: {exc}") from None
    _check_evaluations_meet_rungs(sweep)
    return sweep


def _metric_key(config: SweepConfig, base: ExperimentConfig) -> str:
    """The name trials report the metric under: selection_fid, or e.g.
    selection_fid_untrained_inception with the stand-in InceptionV3."""
    why = names.unmeasured_because(
        config.metric,
        uses_reference=base.model.needs_reference,
        annotated=base.data.path is None or Annotations.of(base.data.path) is not None,
        swap=base.metrics.swap,
    )
    if why is not None:
        raise ConfigError(f"metric: {config.metric}: its trials would never report it: {why}")
    # Raises when no InceptionV3 can be had; SSIM's name keeps only the VGG19 mark.
    return names.logged_name(config.metric, SELECTION, standins(base))


def _check_evaluations_meet_rungs(sweep: Sweep) -> None:
    """ASHA decides at its rungs on the metric: every rung must be an evaluation epoch."""
    train = sweep.base.train
    rungs = sweep.config.asha.rungs()
    missed = [epoch for epoch in [*rungs, train.epochs] if not train.evaluates(epoch)]
    if missed:
        raise ConfigError(
            f"{sweep.source}: ASHA compares trials at epochs {rungs} and ends them at "
            f"{train.epochs}, but train.eval_every={train.eval_every} evaluates none at "
            f"{missed}; leave train.eval_every unset (a sweep then evaluates at the rungs), or "
            "make it divide them"
        )
