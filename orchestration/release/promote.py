"""`ganime promote`: a trial's generator into the MLflow Model Registry, behind a quality gate.

The candidate is the best run of a sweep by a metric (or one named run); its generator, the
`best_generator` model the run logged (else `final_generator`), is registered as a new version of
`ganime-<family>`. The alias `champion` moves to it only if it beats the current champion by a
margin, and both are measured for that here, on the same held-out split with the same backbone
and image count: numbers logged during training were measured at each run's own eval size and
are used only to rank the candidates. Each version carries its lineage as tags, and the champion
it replaced, which is where `--rollback` moves the alias back to.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ganime_core.errors import GanimeError
from orchestration.sweep import SWEEP_TAG, TRIAL_TAG
from orchestration.sweep_config import METRIC_MODES, logged_metric_name, logged_metric_names

log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS_TAG = "ganime.previous_champion"  # the version the alias pointed at before this one
MODEL_TAG = "ganime.model_id"  # the logged model a version was registered from
GENERATORS = ("best_generator", "final_generator")  # preferred first (tracking.TrainingTracker)


def registered_name(family: str) -> str:
    return f"ganime-{family}"


@dataclass(frozen=True)
class Candidate:
    """A run to promote: its logged generator and what ranked it."""

    run_id: str
    run_name: str
    experiment_id: str
    tags: dict[str, str]
    logged_key: str  # e.g. fid_untrained
    logged_value: float  # the run's best logged value: ranks runs, never gates them
    model_id: str
    generator: str  # best_generator or final_generator

    @property
    def uri(self) -> str:
        return f"models:/{self.model_id}"


@dataclass(frozen=True)
class Measured:
    """A model measured on the held-out split."""

    label: str
    value: float
    metrics: dict[str, float]  # as logged in training (fid or fid_untrained, ...), plus n
    backbone: str


@dataclass(frozen=True)
class Verdict:
    promote: bool  # move the alias to the candidate
    reason: str


def judge(metric: str, candidate: float, champion: float | None, margin: float) -> Verdict:
    """Whether `candidate` beats `champion` by at least `margin` (and strictly) on `metric`."""
    if champion is None:
        return Verdict(True, "there is no champion yet")
    mode = METRIC_MODES[metric]
    improvement = champion - candidate if mode == "min" else candidate - champion
    text = f"{metric} {candidate:.4g} against the champion's {champion:.4g}"
    if improvement > 0 and improvement >= margin:
        return Verdict(True, f"{text}: better by {improvement:.4g} (margin {margin:g})")
    if improvement > 0:
        return Verdict(False, f"{text}: better by only {improvement:.4g}, margin {margin:g}")
    return Verdict(False, f"{text}: not better")


# --- finding the candidate ---------------------------------------------------------------------


def logged_key(metrics: dict[str, float], metric: str) -> str | None:
    """The name `metric` was logged under in a run: fid, or fid_untrained for a run measured
    with the stand-in backbone."""
    return next((key for key in logged_metric_names(metric) if key in metrics), None)


def find_candidate(
    client: Any, metric: str, *, sweep: str | None = None, run_id: str | None = None
) -> Candidate:
    """The run of `sweep` with the best logged `metric` (failed runs excluded), or `run_id`."""
    if run_id is not None:
        try:
            runs = [client.get_run(run_id)]
        except Exception:  # MlflowException: RESOURCE_DOES_NOT_EXIST
            raise GanimeError(f"--run {run_id}: no such MLflow run") from None
    else:
        experiment = client.get_experiment_by_name(sweep)
        if experiment is None:
            raise GanimeError(f"--sweep {sweep}: no MLflow experiment of that name")
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{SWEEP_TAG}` = '{sweep}' and tags.`{TRIAL_TAG}` != ''",
        )
        runs = [run for run in runs if run.info.status != "FAILED"]
    mode = METRIC_MODES[metric]
    ranked = []
    for run in runs:
        key = logged_key(run.data.metrics, metric)
        if key is None:
            continue
        history = [m.value for m in client.get_metric_history(run.info.run_id, key)]
        ranked.append((min(history) if mode == "min" else max(history), key, run))
    if not ranked:
        where = f"run {run_id}" if run_id else f"sweep {sweep}'s trials"
        raise GanimeError(f"{where}: no {metric} was logged (evaluations need train.eval_every)")
    value, key, run = (min if mode == "min" else max)(ranked, key=lambda item: item[0])
    model_id, generator = _logged_generator(client, run)
    return Candidate(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        experiment_id=run.info.experiment_id,
        tags=dict(run.data.tags),
        logged_key=key,
        logged_value=value,
        model_id=model_id,
        generator=generator,
    )


def _logged_generator(client: Any, run: Any) -> tuple[str, str]:
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        output_format="list",
    )
    # A run logs best_generator again at each new best FID: the newest one is the best.
    by_name: dict[str, str] = {}
    for model in sorted(models, key=lambda m: m.creation_timestamp, reverse=True):
        by_name.setdefault(model.name, model.model_id)
    for name in GENERATORS:
        if name in by_name:
            return by_name[name], name
    raise GanimeError(
        f"run {run.info.run_id} logged no generator model ({' or '.join(GENERATORS)})"
    )


# --- the gate ----------------------------------------------------------------------------------


def champion_version(client: Any, name: str) -> Any | None:
    """The model version the `champion` alias points at, None if there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no such registered model, or no such alias
        return None


def measure_on_holdout(
    models: dict[str, Any], candidate_config: Any, metric: str, limit: int | None
) -> dict[str, Measured]:
    """Each loaded model (label -> pyfunc model) on the candidate's held-out split (val), under
    one evaluator: same images, same backbone, same image count."""
    from ganime_core.config import parse_config
    from ganime_core.evaluation import Evaluator
    from orchestration.model import pyfunc_generate

    raw = candidate_config.model_dump(mode="json")
    raw["metrics"]["max_images"] = limit  # None: the whole split
    config = parse_config(raw, source="held-out evaluation")
    evaluator = Evaluator(config, split="val")
    measured = {}
    for label, model in models.items():
        evaluation = evaluator.evaluate(pyfunc_generate(model))
        metrics = {**evaluation.metrics(), "n": evaluation.n}
        value = metrics.get(logged_metric_name(metric, evaluation.metric_suffix))
        if value is None:  # SSIM of unpaired data
            raise GanimeError("--metric ssim needs paired data; its held-out split has none")
        measured[label] = Measured(label, float(value), metrics, evaluation.backbone)
        log.info(
            "%s: %s on %d held-out images (%s)", label, metric, evaluation.n, evaluation.backbone
        )
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
            f"held-out: {_describe(self.measured)}",
        ]
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


def _describe(measured: Measured) -> str:
    shown = {k: v for k, v in measured.metrics.items() if not k.startswith("kid_std")}
    return ", ".join(f"{k} {v:.4g}" if k != "n" else f"n {int(v)}" for k, v in shown.items())


def promote(
    uri: str,
    *,
    sweep: str | None = None,
    run_id: str | None = None,
    metric: str = "fid",
    min_improvement: float = 0.0,
    limit: int | None = None,
    dry_run: bool = False,
) -> Promotion:
    """Register the best candidate; move `champion` to it if it passes the gate."""
    from mlflow.tracking import MlflowClient

    from orchestration.model import load_colorizer

    if min_improvement < 0:
        raise GanimeError("--min-improvement must be >= 0")
    client = MlflowClient(uri)
    candidate = find_candidate(client, metric, sweep=sweep, run_id=run_id)
    models = {"candidate": load_colorizer(candidate.uri, what="candidate")}
    config = models["candidate"].unwrap_python_model().config
    name = registered_name(config.model.family)
    champion = champion_version(client, name)
    version = registered_version(client, name, candidate.model_id)
    registered_before = version is not None
    is_champion = champion is not None and version == str(champion.version)
    if champion is not None and not is_champion:
        champion_uri = f"models:/{name}/{champion.version}"
        models["champion"] = load_colorizer(champion_uri, what="champion")
    measured = measure_on_holdout(models, config, metric, limit)
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
        version = _register(
            client, name, candidate, config, measured["candidate"], verdict, existing=version
        )
        if verdict.promote:
            _move_champion(client, name, version, previous=champion)
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


def registered_version(client: Any, name: str, model_id: str) -> str | None:
    """The version of `name` registered from the logged model `model_id`, if any."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    found = [v.version for v in versions if v.tags.get(MODEL_TAG) == model_id]
    return str(found[0]) if found else None


def _register(
    client: Any,
    name: str,
    candidate: Candidate,
    config: Any,
    measured: Measured,
    verdict: Verdict,
    existing: str | None,
) -> str:
    """The version of `name` for the candidate's model: `existing` if it was registered before
    (promote is safe to run again), else a new one; its tags record the lineage and this gate's
    outcome."""
    import mlflow
    from mlflow.exceptions import MlflowException

    tags = {
        MODEL_TAG: candidate.model_id,
        "ganime.generator": candidate.generator,
        "ganime.run_id": candidate.run_id,
        "ganime.sweep": candidate.tags.get(SWEEP_TAG, ""),
        "ganime.trial_id": candidate.tags.get(TRIAL_TAG, ""),
        "ganime.trial_number": candidate.tags.get("ganime.trial_number", ""),
        "ganime.config_hash": config.fingerprint(),
        "ganime.data_hash": candidate.tags.get("ganime.data_hash", ""),
        "ganime.git_commit": candidate.tags.get("ganime.git_commit", ""),
        "ganime.backbone": measured.backbone,
        "ganime.gate": ("promoted: " if verdict.promote else "not promoted: ") + verdict.reason,
        **{f"ganime.holdout.{k}": f"{v:.6g}" for k, v in measured.metrics.items()},
    }
    if existing is None:
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(
                name,
                description=f"GANime {config.model.family} generators: uint8 sketches in, colour "
                f"images out (ganime colorize --model models:/{name}@{CHAMPION}).",
            )
        mlflow.set_tracking_uri(client.tracking_uri)
        existing = str(mlflow.register_model(candidate.uri, name).version)
    for key, value in tags.items():
        client.set_model_version_tag(name, existing, key, value)
    return existing


def _move_champion(client: Any, name: str, version: str, previous: Any | None) -> None:
    if previous is not None and str(previous.version) != version:
        client.set_model_version_tag(name, version, PREVIOUS_TAG, str(previous.version))
    client.set_model_version_tag(name, version, "ganime.promoted_at", _now())
    client.set_registered_model_alias(name, CHAMPION, version)


def rollback(uri: str, name: str, *, dry_run: bool = False) -> list[str]:
    """Move `champion` back to the version it replaced."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    current = champion_version(client, name)
    if current is None:
        raise GanimeError(f"{name} has no @{CHAMPION} to roll back")
    previous = current.tags.get(PREVIOUS_TAG)
    if not previous:
        raise GanimeError(
            f"{name}@{CHAMPION} is v{current.version}, the first champion: no earlier one"
        )
    would = "would move" if dry_run else "moved"
    if not dry_run:
        client.set_model_version_tag(name, current.version, "ganime.rolled_back_at", _now())
        client.set_registered_model_alias(name, CHAMPION, previous)
    lines = [f"{would} {name}@{CHAMPION} from v{current.version} back to v{previous}"]
    if dry_run:
        lines.append("dry run: no alias moved")
    return lines


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
