"""`ganime promote`: a trial's generator into the MLflow Model Registry, behind a quality gate.

The candidate is the best run of a sweep by a metric (or one named run); its generator, the
`best_generator` model the run logged (else `final_generator`), is registered as a new version of
`ganime-<family>`. The alias `champion` moves to it only if it beats the current champion by a
margin, and both are measured for that here, on the test split (ganime_core/splits.py) with the
same backbone and image count. Training and the sweep chose the candidate on the selection split
and never read the test split, so the number the gate records is not biased by that choice;
numbers logged during training rank the candidates and never gate them. Each version carries
its lineage as tags, the gate's reasons as its description, and the champion it replaced,
which is where `--rollback` moves the alias back to. The MLflow reads and writes are
tracking/registry.py's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ganime_core.config import ExperimentConfig
from ganime_core.errors import GanimeError
from ganime_core.metrics import names, pareto
from ganime_core.splits import SELECTION, TEST
from orchestration.tracking import tags
from orchestration.tracking.model import load_colorizer, pyfunc_colorizer
from orchestration.tracking.registry import Registry
from orchestration.tracking.sink import FINAL_GENERATOR, GENERATORS

log = logging.getLogger(__name__)

CHAMPION = "champion"


def registered_name(family: str) -> str:
    return f"ganime-{family}"


@dataclass(frozen=True)
class Candidate:
    """A run to promote: its logged generator and what ranked it."""

    run_id: str
    run_name: str
    experiment_id: str
    tags: dict[str, str]
    logged_key: str  # e.g. selection_fid_untrained_inception
    logged_value: float  # the run's best logged value: ranks runs, never gates them
    model_id: str
    generator: str  # best_generator or final_generator
    pick_rule: str = ""  # how it was picked from a multi-objective sweep's front ("" otherwise)

    @property
    def uri(self) -> str:
        return f"models:/{self.model_id}"

    @classmethod
    def of_run(
        cls, run: Any, key: str, value: float, model: tuple[str, str], pick_rule: str = ""
    ) -> Candidate:
        """`run` ranked by `key` at `value`, with its logged generator `model` (id, name)."""
        return cls(
            run_id=run.info.run_id,
            run_name=run.info.run_name,
            experiment_id=run.info.experiment_id,
            tags=dict(run.data.tags),
            logged_key=key,
            logged_value=value,
            model_id=model[0],
            generator=model[1],
            pick_rule=pick_rule,
        )


@dataclass(frozen=True)
class Measured:
    """A model measured on the test split."""

    label: str
    value: float
    metrics: dict[str, float]  # test_fid (or test_fid_untrained_inception), test_kid_mean, ...
    n: int  # test images measured
    backbone: str


@dataclass(frozen=True)
class Verdict:
    promote: bool  # move the alias to the candidate
    reason: str


def judge(metric: str, candidate: float, champion: float | None, margin: float) -> Verdict:
    """Whether `candidate` beats `champion` by at least `margin` (and strictly) on `metric`."""
    if champion is None:
        return Verdict(True, "there is no champion yet")
    improvement = champion - candidate if names.mode(metric) == "min" else candidate - champion
    text = f"{metric} {candidate:.4g} against the champion's {champion:.4g}"
    if improvement > 0 and improvement >= margin:
        return Verdict(True, f"{text}: better by {improvement:.4g} (margin {margin:g})")
    if improvement > 0:
        return Verdict(False, f"{text}: better by only {improvement:.4g}, margin {margin:g}")
    return Verdict(False, f"{text}: not better")


# --- finding the candidate ---------------------------------------------------------------------


def logged_key(metrics: dict[str, float], metric: str, splits: tuple[str, ...]) -> str | None:
    """The name `metric` was logged under in a run on the first of `splits` it has: e.g.
    selection_fid, or selection_fid_untrained_inception for a run measured with the stand-in
    backbone."""
    candidates = (name for split in splits for name in names.logged_names(metric, split))
    return next((key for key in candidates if key in metrics), None)


def find_candidate(
    registry: Registry, metric: str, *, sweep: str | None = None, run_id: str | None = None
) -> Candidate:
    """The run of `sweep` with the best logged `metric` (failed runs excluded), or `run_id`."""
    best = min if names.mode(metric) == "min" else max
    # A sweep's trials are ranked on the selection split only. A run named by --run is not
    # ranked: its number is shown as logged, and a method that trains nothing (NST, measured
    # by `ganime evaluate`) logged only the test split.
    splits = (SELECTION,) if run_id is None else (SELECTION, TEST)
    ranked = []
    for run in _runs_to_rank(registry, sweep=sweep, run_id=run_id):
        key = logged_key(run.data.metrics, metric, splits)
        if key is None:
            continue
        ranked.append((best(registry.metric_history(run.info.run_id, key)), key, run))
    if not ranked:
        where = f"run {run_id}" if run_id else f"sweep {sweep}'s trials"
        raise GanimeError(f"{where}: no {metric} was logged (evaluations need train.eval_every)")
    value, key, run = best(ranked, key=lambda item: item[0])
    return Candidate.of_run(run, key, value, logged_generator(registry, run))


@dataclass(frozen=True)
class FrontPick:
    """`--pick PREFER:WITHIN`: take from a multi-objective sweep's front the trial with the
    best PREFER among those within WITHIN (a fraction) of the best of its other metrics."""

    prefer: str  # an objective: ssim
    within: float

    @classmethod
    def parse(cls, text: str) -> FrontPick:
        prefer, _, within = text.partition(":")
        try:
            fraction = float(within or 0.05)
        except ValueError:
            fraction = -1.0
        if prefer not in names.MODES or fraction < 0:
            raise GanimeError(
                f"--pick {text}: expected METRIC:FRACTION, e.g. ssim:0.05 (METRIC one of "
                f"{', '.join(names.MODES)})"
            )
        return cls(prefer, fraction)


def find_front_candidate(registry: Registry, sweep: str, pick: FrontPick | None) -> Candidate:
    """A multi-objective sweep's pick from its Pareto front: the trial the sweep picked by its
    own rule, or the one `pick` takes from the front of the trials' last evaluations. Its
    final_generator: a trial's point on the front is its last epoch."""
    parent = registry.sweep_parent_run(sweep)
    if parent is None:
        raise GanimeError(f"--sweep {sweep}: no MLflow experiment of that name")
    keys = parent.data.params.get("metric", "").split(", ")
    if len(keys) < 2:
        raise GanimeError(f"--pick: sweep {sweep} ranks its trials on one metric, {keys[0]}")
    if pick is None:
        rule, run_id = (
            parent.data.tags[tags.PICK_RULE],
            parent.data.tags.get(tags.BEST_TRIAL_RUN_ID),
        )
        if not run_id:
            raise GanimeError(f"--sweep {sweep}: its front has no trial (see its parent run)")
    else:
        prefer = next((k for k in keys if names.parse(k).metric == pick.prefer), None)
        if prefer is None:
            raise GanimeError(f"--pick {pick.prefer}: sweep {sweep} ranks on {', '.join(keys)}")
        runs = [
            run
            for run in registry.sweep_trial_runs(sweep) or []
            if run.info.status == "FINISHED" and all(k in run.data.metrics for k in keys)
        ]
        points = {run.info.run_id: {k: run.data.metrics[k] for k in keys} for run in runs}
        run_id = pareto.pick(points, tuple(keys), prefer, pick.within)
        if run_id is None:
            raise GanimeError(f"--sweep {sweep}: no finished trial reported {', '.join(keys)}")
        others = [names.parse(k).metric for k in keys if k != prefer]
        rule = pareto.describe_pick(pick.prefer, others, pick.within)
    run = registry.run(run_id)
    models = registry.logged_models(run)
    if FINAL_GENERATOR not in models:
        raise GanimeError(f"run {run_id} logged no {FINAL_GENERATOR} (did it finish?)")
    model = (models[FINAL_GENERATOR], FINAL_GENERATOR)
    return Candidate.of_run(run, keys[0], run.data.metrics[keys[0]], model, rule)


def _runs_to_rank(registry: Registry, *, sweep: str | None, run_id: str | None) -> list[Any]:
    if run_id is not None:
        run = registry.run(run_id)
        if run is None:
            raise GanimeError(f"--run {run_id}: no such MLflow run")
        return [run]
    runs = registry.sweep_trial_runs(sweep)
    if runs is None:
        raise GanimeError(f"--sweep {sweep}: no MLflow experiment of that name")
    return [run for run in runs if run.info.status != "FAILED"]


def logged_generator(registry: Registry, run: Any) -> tuple[str, str]:
    """(model id, name) of the generator `run` logged: its best, else its final one."""
    models = registry.logged_models(run)
    for name in GENERATORS:
        if name in models:
            return models[name], name
    raise GanimeError(
        f"run {run.info.run_id} logged no generator model ({' or '.join(GENERATORS)})"
    )


# --- the gate ----------------------------------------------------------------------------------


def measure_on_test(
    models: dict[str, Any], candidate_config: ExperimentConfig, metric: str, limit: int | None
) -> dict[str, Measured]:
    """Each loaded model (label -> pyfunc model) on the candidate's test split, under one
    evaluator: same images, same backbone, same image count."""
    # TensorFlow: only measuring needs it, and `ganime promote --rollback` never measures.
    from ganime_core.evaluation import Evaluator

    # limit None: the whole split.
    config = candidate_config.replace({"metrics.max_images": limit}, source="test evaluation")
    evaluator = Evaluator(config, split=TEST)
    measured = {}
    for label, model in models.items():
        evaluation = evaluator.evaluate(pyfunc_colorizer(model))
        value = evaluation.value(metric)
        if value is None:  # SSIM of unpaired data
            raise GanimeError("--metric ssim needs paired data; its test split has none")
        measured[label] = Measured(
            label, float(value), evaluation.metrics(), evaluation.n, evaluation.backbone
        )
        log.info("%s: %s on %d test images (%s)", label, metric, evaluation.n, evaluation.backbone)
    return measured


# --- promote and roll back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    name: str
    candidate: Candidate
    measured: Measured
    champion: Any | None  # the champion ModelVersion before, if any
    champion_measured: Measured | None
    verdict: Verdict
    version: str | None  # the candidate's version (None: a dry run that would register it)
    registered_before: bool
    dry_run: bool

    def lines(self) -> list[str]:
        run = self.candidate
        lines = [
            f"candidate: run {run.run_name} ({run.run_id}), its {run.generator}, "
            f"{run.logged_key} {run.logged_value:.4g} as logged",
        ]
        if run.pick_rule:
            lines.append(f"picked by: {run.pick_rule}")
        schedule = run.tags.get(tags.SCHEDULE)
        if schedule:
            lines.append(f"its PBT schedule: {schedule}")
        lines.append(f"test split: {_describe(self.measured)}")
        if self.champion_measured is not None:
            lines.append(f"champion v{self.champion.version}: {_describe(self.champion_measured)}")
        would = "would " if self.dry_run else ""
        if self.registered_before:
            registered = f"{self.name} v{self.version} (registered before)"
        else:
            registered = f"{would}register {self.name} v{self.version or 'N+1'}"
        if self.verdict.promote:
            lines.append(f"{registered}; {would}move @{CHAMPION} to it: {self.verdict.reason}")
        else:
            stays = f"@{CHAMPION} stays on v{self.champion.version}"
            lines.append(f"{registered}; {stays}: {self.verdict.reason}")
        if self.dry_run:
            lines.append("dry run: nothing registered, no alias moved")
        return lines


def _has_front(registry: Registry, sweep: str) -> bool:
    parent = registry.sweep_parent_run(sweep)
    return parent is not None and tags.PICK_RULE in parent.data.tags


def _describe(measured: Measured) -> str:
    # KID's spread stays in the version's tags: a line shows the values that are compared.
    metrics = measured.metrics.items()
    shown = [f"{k} {v:.4g}" for k, v in metrics if names.parse(k).metric != names.KID_STD]
    return ", ".join([*shown, f"{measured.n} images"])


def promote(
    uri: str,
    *,
    sweep: str | None = None,
    run_id: str | None = None,
    metric: str = names.BEST_BY,
    min_improvement: float = 0.0,
    limit: int | None = None,
    dry_run: bool = False,
    pick: FrontPick | None = None,
) -> Promotion:
    """Register the best candidate (of a multi-objective sweep: its pick from the front, by
    `pick` or the sweep's own rule); move `champion` to it if it passes the gate."""
    if min_improvement < 0:
        raise GanimeError("--min-improvement must be >= 0")
    if pick is not None and sweep is None:
        raise GanimeError("--pick chooses from a sweep's Pareto front: give --sweep NAME")
    registry = Registry(uri)
    if sweep is not None and (pick is not None or _has_front(registry, sweep)):
        candidate = find_front_candidate(registry, sweep, pick)
    else:
        candidate = find_candidate(registry, metric, sweep=sweep, run_id=run_id)
    models = {"candidate": load_colorizer(candidate.uri, what="candidate")}
    config = models["candidate"].unwrap_python_model().config
    name = registered_name(config.model.family)
    champion = registry.aliased_version(name, CHAMPION)
    version = registry.version_of_model(name, candidate.model_id)
    registered_before = version is not None
    is_champion = champion is not None and version == str(champion.version)
    if champion is not None and not is_champion:
        champion_uri = f"models:/{name}/{champion.version}"
        models["champion"] = load_colorizer(champion_uri, what="champion")
    measured = measure_on_test(models, config, metric, limit)
    if is_champion:
        verdict = Verdict(False, "the candidate is the champion itself")  # its tags stay
    else:
        verdict = judge(
            metric,
            measured["candidate"].value,
            measured["champion"].value if champion else None,
            min_improvement,
        )
    if not is_champion and not dry_run:
        gate = Gate(candidate, measured["candidate"], verdict, champion)
        version = record_gate(registry, name, config, gate, existing=version)
    return Promotion(
        name=name,
        candidate=candidate,
        measured=measured["candidate"],
        champion=champion,
        champion_measured=measured.get("champion"),
        verdict=verdict,
        version=version,
        registered_before=registered_before,
        dry_run=dry_run,
    )


@dataclass(frozen=True)
class Gate:
    """What the gate decided about a candidate, as recorded on its version."""

    candidate: Candidate
    measured: Measured
    verdict: Verdict
    champion: Any | None  # the champion ModelVersion it was measured against, if any

    def version_tags(self, config: ExperimentConfig) -> dict[str, str]:
        """The version's lineage (where its model came from) and the gate's outcome."""
        lineage = self.candidate.tags
        outcome = "promoted: " if self.verdict.promote else "not promoted: "
        return {
            tags.MODEL_ID: self.candidate.model_id,
            tags.GENERATOR: self.candidate.generator,
            tags.RUN_ID: self.candidate.run_id,
            tags.SWEEP: lineage.get(tags.SWEEP, ""),
            tags.TRIAL_ID: lineage.get(tags.TRIAL_ID, ""),
            tags.TRIAL_NUMBER: lineage.get(tags.TRIAL_NUMBER, ""),
            tags.CONFIG_HASH: config.fingerprint(),
            tags.DATA_HASH: lineage.get(tags.DATA_HASH, ""),
            tags.GIT_COMMIT: lineage.get(tags.GIT_COMMIT, ""),
            tags.BACKBONE: self.measured.backbone,
            tags.GATE: outcome + self.verdict.reason,
            tags.HOLDOUT_SPLIT: TEST,
            tags.HOLDOUT_IMAGES: str(self.measured.n),
            **{tags.holdout(k): f"{v:.6g}" for k, v in self.measured.metrics.items()},
            **({tags.SCHEDULE: lineage[tags.SCHEDULE]} if tags.SCHEDULE in lineage else {}),
            **({tags.PICK_RULE: self.candidate.pick_rule} if self.candidate.pick_rule else {}),
        }

    def description(self) -> str:
        """The version's description (markdown, on its page in the registry UI): why the gate
        moved @champion to it or not, what it measured, and which run the model came from."""
        if self.verdict.promote:
            outcome = f"**Promoted**: @{CHAMPION} moved to this version"
        else:
            outcome = f"**Not promoted**: @{CHAMPION} stayed on v{self.champion.version}"
        run = self.candidate
        lines = [
            f"{outcome}: {self.verdict.reason}.",
            "",
            f"- {TEST} split (never used to choose): {_describe(self.measured)}; backbone "
            f"`{self.measured.backbone}`",
            f"- candidate: run `{run.run_name}` (`{run.run_id}`), its `{run.generator}`, "
            f"{run.logged_key} {run.logged_value:.4g} as logged",
        ]
        sweep = run.tags.get(tags.SWEEP)
        if sweep:
            trial = run.tags.get(tags.TRIAL_NUMBER) or "?"
            lines.append(f"- sweep `{sweep}`, trial {trial} (`{run.tags.get(tags.TRIAL_ID, '')}`)")
        if run.pick_rule:
            lines.append(f"- picked from the sweep's Pareto front by {run.pick_rule}")
        if tags.SCHEDULE in run.tags:
            lines.append(f"- its PBT schedule: {run.tags[tags.SCHEDULE]}")
        return "\n".join(lines)


def record_gate(
    registry: Registry, name: str, config: ExperimentConfig, gate: Gate, existing: str | None
) -> str:
    """The version of `name` for the candidate's model: `existing` if it was registered before
    (promote is safe to run again), else a new one. Its tags and description record the lineage
    and this gate's outcome; `champion` moves to it if it passed."""
    version = existing or registry.register(
        gate.candidate.uri,
        name,
        description=f"GANime {config.model.family} generators: uint8 sketches in, colour "
        f"images out (ganime colorize --model models:/{name}@{CHAMPION}).",
    )
    registry.set_version_tags(name, version, gate.version_tags(config))
    registry.set_version_description(name, version, gate.description())
    if gate.verdict.promote:
        _move_champion(registry, name, version, previous=gate.champion)
    return version


def _move_champion(registry: Registry, name: str, version: str, previous: Any | None) -> None:
    moved: dict[str, str] = {}
    if previous is not None and str(previous.version) != version:
        moved[tags.PREVIOUS_CHAMPION] = str(previous.version)
    moved[tags.PROMOTED_AT] = _now()
    registry.set_version_tags(name, version, moved)
    registry.move_alias(name, CHAMPION, version)


def rollback(uri: str, name: str, *, dry_run: bool = False) -> list[str]:
    """Move `champion` back to the version it replaced."""
    registry = Registry(uri)
    current = registry.aliased_version(name, CHAMPION)
    if current is None:
        raise GanimeError(f"{name} has no @{CHAMPION} to roll back")
    previous = current.tags.get(tags.PREVIOUS_CHAMPION)
    if not previous:
        raise GanimeError(
            f"{name}@{CHAMPION} is v{current.version}, the first champion: no earlier one"
        )
    would = "would move" if dry_run else "moved"
    if not dry_run:
        registry.set_version_tags(name, current.version, {tags.ROLLED_BACK_AT: _now()})
        registry.move_alias(name, CHAMPION, previous)
    lines = [f"{would} {name}@{CHAMPION} from v{current.version} back to v{previous}"]
    if dry_run:
        lines.append("dry run: no alias moved")
    return lines


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
