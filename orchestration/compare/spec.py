"""A compare file: the paper's comparison as one file. The methods (each an experiment file with
overrides), run under one protocol: the same data, seeds, training budget, held-out images,
references and backbone for all.

    name: compare
    data: {image_size: 32, synthetic: {count: 200, seed: 0}}   # every method's data section
    seeds: 3                                 # runs per method, seeds 0, 1, 2
    epochs: 10                               # the training budget of the methods that train
    evaluation: {split: val, max_images: 100, reference: random_train}
    methods:
      - {name: nst, experiment: nst.yaml, overrides: {model.steps: 50}}
      - {name: pix2pix_tv, experiment: pix2pix_tv.yaml}
    trial: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

Each method's experiment file (relative to the compare file) is read, its overrides set, then
the protocol's values, which no method may change: `data` merged over its data section, the
seed, `train.epochs` and an evaluation at the last epoch only (for a method that trains), and
`metrics.max_images` and `metrics.reference`. Neither TensorFlow nor Ray is imported here: a
driver validates every run's config before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from ganime_core.config import (
    ExperimentConfig,
    apply_overrides,
    describe_validation_error,
    parse_config,
    read_yaml_mapping,
    set_dotted,
)
from ganime_core.errors import ConfigError
from orchestration.sweep.spec import StrictModel, TrialResources

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Method(StrictModel):
    name: str = Field(pattern=NAME_PATTERN, description="the method's row in the table")
    experiment: Path = Field(description="experiment file, relative to the compare file")
    overrides: dict[str, Any] = Field(default_factory=dict)


class Evaluation(StrictModel):
    split: Literal["val", "train"] = "val"
    max_images: int | None = Field(None, ge=2, description="the split's first N; unset = all")
    reference: Literal["random_train", "ground_truth"] = "random_train"


class CompareConfig(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    data: dict[str, Any] = Field(
        default_factory=dict, description="set on every method's data section (nested keys)"
    )
    seeds: int | list[int] = Field(3, description="runs per method: N (seeds 0..N-1) or a list")
    epochs: int = Field(ge=1, description="train.epochs of every method that trains")
    evaluation: Evaluation = Evaluation()
    methods: list[Method] = Field(min_length=1)
    trial: TrialResources = TrialResources()
    max_concurrent: int | None = Field(
        None, ge=1, description="runs at once; unset = as many as the cluster's resources hold"
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: int | list[int]) -> int | list[int]:
        listed = list(range(seeds)) if isinstance(seeds, int) else seeds
        if not listed:
            raise ValueError("at least one seed")
        if any(seed < 0 for seed in listed) or len(set(listed)) != len(listed):
            raise ValueError(f"seeds must be distinct and non-negative, got {seeds}")
        return seeds

    @field_validator("methods")
    @classmethod
    def _distinct_names(cls, methods: list[Method]) -> list[Method]:
        names = [method.name for method in methods]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"method names must be distinct, repeated: {repeated}")
        return methods

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


@dataclass(frozen=True)
class MethodRun:
    """One method at one seed: the experiment it runs, validated."""

    method: str
    seed: int
    config: ExperimentConfig

    @property
    def trains(self) -> bool:
        return self.config.model.trainable


@dataclass(frozen=True)
class Compare:
    config: CompareConfig
    runs: tuple[MethodRun, ...]  # method-major, in the file's order, seeds ascending
    source: Path

    @property
    def name(self) -> str:
        return self.config.name

    def methods(self) -> list[str]:
        return [method.name for method in self.config.methods]


def load_compare(path: str | Path, overrides: list[str] | None = None) -> Compare:
    """Read a compare file, apply `--set` overrides to it, and resolve and validate every
    method's run at every seed; one ConfigError line naming the file (and method) if wrong."""
    path = Path(path)
    raw = read_yaml_mapping(path, "compare", "name, epochs, methods, ...")
    try:
        config = CompareConfig.model_validate(apply_overrides(raw, overrides or []))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
    runs = []
    for method in config.methods:
        base = _method_experiment(path, config, method)
        for seed in config.seed_list():
            run = base.replace(
                {"seed": seed, "name": f"{config.name}-{method.name}"},
                source=f"{path}: method {method.name} seed {seed}",
            )
            runs.append(MethodRun(method.name, seed, run))
    return Compare(config, tuple(runs), path)


def _method_experiment(path: Path, config: CompareConfig, method: Method) -> ExperimentConfig:
    experiment_path = method.experiment
    if not experiment_path.is_absolute():
        experiment_path = path.parent / experiment_path
    raw = read_yaml_mapping(experiment_path, "experiment", "name, data, model, ...")
    where = f"{path}: method {method.name} ({experiment_path})"
    for key, value in method.overrides.items():
        if key.split(".", 1)[0] in ("data", "seed") or key in _PROTOCOL_KEYS:
            raise ConfigError(f"{where}: overrides.{key} is the protocol's, the same for all")
        set_dotted(raw, key, value)
    raw["data"] = _merged(raw.get("data") or {}, config.data)
    set_dotted(raw, "metrics.max_images", config.evaluation.max_images)
    set_dotted(raw, "metrics.reference", config.evaluation.reference)
    experiment = parse_config(raw, source=where)
    if experiment.model.trainable:
        # The budget, and one evaluation at its end: every method is measured once, the same way.
        experiment = experiment.replace(
            {
                "train.epochs": config.epochs,
                "train.eval_every": 0,
                "train.eval_epochs": [config.epochs],
            },
            source=where,
        )
    return experiment


_PROTOCOL_KEYS = ("train.epochs", "metrics.max_images", "metrics.reference")


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` set, nested sections merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
