"""A compare file: the paper's comparison as one file. The methods (each an experiment file with
overrides), run under one protocol: the same data, seeds, training budget, held-out images,
references and backbone for all.

    name: compare
    data: {image_size: 32, synthetic: {count: 200, seed: 0}}   # every method's data section
    metrics: {allow_untrained_backbone: true}                   # every method's metrics section
    seeds: 3                                 # runs per method, seeds 0, 1, 2
    epochs: 10                               # the training budget of the methods that train
    evaluation: {split: val, max_images: 100, reference: random_train, grid_images: 4}
    baseline: nst                            # the FID reduction column is against this method
    methods:
      - {name: nst, experiment: nst.yaml, overrides: {model.steps: 50}}
      - {name: pix2pix_tv, experiment: pix2pix_tv.yaml}
    trial: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

Each method's experiment file (relative to the compare file) is read, its overrides set, then
the protocol's values, which no method may change: `data` and `metrics` merged over its
sections, the seed, `train.epochs` (for a method that trains; unset = each experiment's own),
and `metrics.max_images` and `metrics.reference`. Training evaluates nothing: the compare
measures every run after it, with one Evaluator setting. What that measuring depends on (the
data but its training jitter, every metrics value) must then be equal for all methods, or the
file is refused: the numbers are comparable by construction. Neither TensorFlow nor Ray is
imported here: a driver validates every run's config before anything starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ganime_core.config import (
    NAME_PATTERN,
    ExperimentConfig,
    Section,
    apply_overrides,
    describe_validation_error,
    flatten,
    parse_config,
    read_yaml_mapping,
    set_dotted,
)
from ganime_core.errors import ConfigError
from orchestration.compare.paper import BASELINE as PAPER_BASELINE
from orchestration.compare.paper import paper_row
from orchestration.jobs.spec import TrialResources


class Method(Section):
    name: str = Field(pattern=NAME_PATTERN, description="the method's row in the table")
    experiment: Path = Field(description="experiment file, relative to the compare file")
    overrides: dict[str, Any] = Field(default_factory=dict)


class EvaluationProtocol(Section):
    """How every method of a compare is measured (the compare file's `evaluation:`): the same
    split, images, references, bootstrap and grid for all. Not ganime_core.evaluation's
    Evaluation, which is one measurement's result."""

    split: Literal["test", "selection"] = Field(
        "test", description="test: the held-out folder nothing is chosen on (the paper's test)"
    )
    max_images: int | None = Field(None, ge=2, description="the split's first N; unset = all")
    reference: Literal["random_train", "ground_truth", "same_palette"] = Field(
        "random_train",
        description="each test sketch's reference for the methods that take one "
        "(metrics.reference); same_palette needs generated data: the target is known exactly",
    )
    grid_images: int = Field(4, ge=1, le=16, description="held-out sketches in the image grid")
    bootstrap_replicates: int = Field(
        200, ge=0, description="resamples of the test images behind each 95% CI; 0 = seeds only"
    )
    shards: int | None = Field(
        None,
        ge=1,
        description="Ray tasks a method that trains nothing (NST) is measured in; unset = as "
        "many runs as the cluster holds at once",
    )


class CompareConfig(Section):
    name: str = Field(pattern=NAME_PATTERN)
    data: dict[str, Any] = Field(
        default_factory=dict, description="set on every method's data section (nested keys)"
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="set on every method's metrics section"
    )
    seeds: int | list[int] = Field(3, description="runs per method: N (seeds 0..N-1) or a list")
    epochs: int | None = Field(
        None, ge=1, description="train.epochs of every method that trains; unset = its own"
    )
    evaluation: EvaluationProtocol = EvaluationProtocol()
    baseline: str | None = Field(
        None, description="the method FID reductions are against; unset = the first NST method"
    )
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

    @model_validator(mode="after")
    def _known_baseline(self) -> CompareConfig:
        if self.baseline is not None and self.baseline not in [m.name for m in self.methods]:
            raise ValueError(f"baseline {self.baseline!r} is not one of the methods")
        return self

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

    def key(self, evaluation: EvaluationProtocol) -> str:
        """What the run's result depends on: its config (but where its files go) and how it
        is measured. A finished run of the same key is reused, not run again."""
        config = self.config.model_dump(
            mode="json",
            exclude={
                "data": {"cache_dir", "decoded_cache_mb"},
                "train": {"output_dir", "keep_checkpoints", "sample_images"},
            },
        )
        shaping = {"config": config, "evaluation": evaluation.model_dump(exclude={"shards"})}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


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

    def families(self) -> dict[str, str]:
        """Method name -> its model family."""
        return {run.method: run.config.model.family for run in self.runs}

    def baseline(self) -> str | None:
        """The method FID reductions are measured against: the file's, else the first that
        runs the paper's baseline row (NST: compare/paper.py)."""
        if self.config.baseline is not None:
            return self.config.baseline
        return next((r.method for r in self.runs if paper_row(r.config) == PAPER_BASELINE), None)

    def in_order_of_work(self) -> list[MethodRun]:
        """Seed-major: every method's first seed before any second seed, so that a compare
        cut short still has a full row of methods."""
        return sorted(self.runs, key=lambda run: self.config.seed_list().index(run.seed))

    def to_record(self) -> dict[str, Any]:
        """The resolved compare as JSON-able data: saved with it, for `--resume NAME`."""
        return {
            "compare": self.config.model_dump(mode="json"),
            "runs": [
                {"method": r.method, "seed": r.seed, "config": r.config.model_dump(mode="json")}
                for r in self.runs
            ],
            "source": str(self.source),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Compare:
        config = CompareConfig.model_validate(record["compare"])
        runs = tuple(
            MethodRun(
                run["method"],
                run["seed"],
                parse_config(run["config"], source=f"compare {config.name} {run['method']}"),
            )
            for run in record["runs"]
        )
        return cls(config, runs, Path(record["source"]))


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
    _check_one_protocol(path, runs)
    return Compare(config, tuple(runs), path)


def _method_experiment(path: Path, config: CompareConfig, method: Method) -> ExperimentConfig:
    experiment_path = method.experiment
    if not experiment_path.is_absolute():
        experiment_path = path.parent / experiment_path
    raw = read_yaml_mapping(experiment_path, "experiment", "name, data, model, ...")
    where = f"{path}: method {method.name} ({experiment_path})"
    for key, value in method.overrides.items():
        training_only = key.removeprefix("data.") in _TRAINING_ONLY_DATA
        if (key.split(".", 1)[0] in _PROTOCOL_SECTIONS and not training_only) or (
            key == "train.epochs"
        ):
            raise ConfigError(f"{where}: overrides.{key} is the protocol's, the same for all")
        set_dotted(raw, key, value)
    raw["data"] = _merged(raw.get("data") or {}, config.data)
    raw["metrics"] = _merged(raw.get("metrics") or {}, config.metrics)
    set_dotted(raw, "metrics.max_images", config.evaluation.max_images)
    set_dotted(raw, "metrics.reference", config.evaluation.reference)
    experiment = parse_config(raw, source=where)
    if experiment.model.trainable:
        # Training only trains: the compare measures the final generator, as it measures a
        # method that trains nothing.
        changes: dict[str, Any] = {"train.eval_every": 0, "train.eval_epochs": []}
        if config.epochs is not None:
            changes["train.epochs"] = config.epochs
        experiment = experiment.replace(changes, source=where)
    return experiment


_PROTOCOL_SECTIONS = ("data", "metrics", "seed")
# Data keys that shape only training, which methods may set apart; every other data and metrics
# value decides which images are measured and how.
_TRAINING_ONLY_DATA = {"jitter", "decoded_cache_mb"}


def _check_one_protocol(path: Path, runs: list[MethodRun]) -> None:
    """ConfigError unless every run is measured on the same data the same way."""

    def measured(run: MethodRun) -> dict[str, Any]:
        return {
            "data": run.config.data.model_dump(mode="json", exclude=_TRAINING_ONLY_DATA),
            "metrics": run.config.metrics.model_dump(mode="json"),
        }

    first = runs[0]
    expected = flatten(measured(first))
    for run in runs[1:]:
        found = flatten(measured(run))
        differing = sorted(key for key in expected if expected[key] != found[key])
        if differing:
            key = differing[0]
            raise ConfigError(
                f"{path}: methods {first.method} and {run.method} would be measured differently: "
                f"{key} is {expected[key]!r} vs {found[key]!r}; set it in the compare file's "
                f"{key.split('.')[0]} section"
            )


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` set, nested sections merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
