"""A multi-objective sweep (FID and SSIM, NSGA-II, no scheduler) on the tiny sweep, on a real
local Ray cluster and MLflow store: its Pareto front on the parent run is non-dominated, its
parameter importance is charted, and `promote --sweep` takes the trial its rule picks and says
by which rule."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from ganime_core.metrics.pareto import dominates
from orchestration.release.promote import FrontPick, promote
from orchestration.sweep.driver import run_sweep
from orchestration.sweep.importance import NoImportance, parameter_importance
from orchestration.sweep.spec import load_sweep
from orchestration.sweep.summary import report_lines
from orchestration.tracking import tags
from tests.support.ray_cluster import local_ray_cluster
from tests.support.sweeps import GOOD, SELECTION_FID, WORSE, tiny_sweep

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402

SSIM = "selection_ssim"
KEYS = (SELECTION_FID, SSIM)


def test_a_front_sweep_logs_a_non_dominated_front_its_importance_and_promotes_its_pick(
    tmp_path, mlflow_store
) -> None:
    rates = [GOOD, WORSE, 5e-4, 1e-5]
    path = tiny_sweep(
        tmp_path,
        rates,
        max_epochs=1,
        metric=["fid", "ssim"],
        sampler="nsga2",
        scheduler="none",
        asha=None,
        pick={"prefer": "ssim", "within": 0.5},
        max_concurrent_trials=2,
    )
    sweep = load_sweep(path)
    assert sweep.metric_keys == KEYS
    with local_ray_cluster():
        outcome = run_sweep(sweep, storage=str(tmp_path / "ray"), progress=False)
    assert [row.stop_reason for row in outcome.trials] == ["completed"] * 4
    points = {row.trial: row.metrics for row in outcome.trials}

    client = MlflowClient(mlflow_store)
    parent = client.get_run(outcome.parent_run_id)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    expected = {"pareto_front.csv", "pareto_front.md", "pareto_front.png"}
    assert expected | {f"importance_{SELECTION_FID}.png", f"importance_{SSIM}.png"} <= artifacts
    table = client.download_artifacts(parent.info.run_id, "pareto_front.csv", str(tmp_path))
    front = [int(row["trial"]) for row in csv.DictReader(io.StringIO(Path(table).read_text()))]
    assert front
    for a in front:  # nothing on the front dominates anything else on it
        assert not any(dominates(points[b], points[a], KEYS) for b in front)
    for other in set(points) - set(front):  # and each trial off it is dominated from it
        assert any(dominates(points[f], points[other], KEYS) for f in front)

    # The pick: the best SSIM on the front within 50% of the front's best FID.
    assert outcome.best.trial in front
    best_fid = min(points[t][SELECTION_FID] for t in front)
    eligible = [t for t in front if points[t][SELECTION_FID] <= best_fid * 1.5]
    assert outcome.best.trial == max(eligible, key=lambda t: points[t][SSIM])
    rule = "the best ssim on the Pareto front among trials within 50% of the best fid"
    assert parent.data.tags[tags.PICK_RULE] == rule
    assert parent.data.tags[tags.BEST_TRIAL_RUN_ID] == outcome.best.run_id
    lines = report_lines(sweep, outcome)
    assert any(line.startswith("Pareto front of ") for line in lines)
    assert f"picked by: {rule}" in lines
    importance = [line for line in lines if line.startswith("importance (fANOVA on ")]
    assert len(importance) == 2 and all("learning_rate 1.00" in line for line in importance)
    assert parent.data.metrics["importance.optimizer.learning_rate"] == pytest.approx(1.0)

    promotion = promote(mlflow_store, sweep="tiny", dry_run=True, limit=10)
    assert promotion.candidate.run_id == outcome.best.run_id
    assert promotion.candidate.generator == "final_generator"
    assert f"picked by: {rule}" in promotion.lines()
    other = promote(mlflow_store, sweep="tiny", dry_run=True, limit=10, pick=FrontPick("fid", 0))
    fid_best = min(front, key=lambda t: points[t][SELECTION_FID])
    assert other.candidate.run_id == next(r.run_id for r in outcome.trials if r.trial == fid_best)
    assert (
        "picked by: the best fid on the Pareto front among trials within 0% of the best ssim"
        in other.lines()
    )

    # One trial: importance says why there is none, in one line.
    first = outcome.trials[0]
    single = parameter_importance(sweep, [(first.params, first.metrics)], SELECTION_FID)
    assert isinstance(single, NoImportance)
    assert single.line() == (
        f"importance: needs at least 2 trials that reported {SELECTION_FID}; this sweep has 1"
    )
