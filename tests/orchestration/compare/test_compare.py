"""`ganime compare` end to end on local Ray: two trainable methods and NST at 32 px, 2 seeds,
1 epoch. The parent run holds the table (mean and std computed from the children), the charts
and the grid; every method and seed is a nested child with its own model; a second run reuses
every finished child. A killed driver and a failing method: test_compare_resume.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ganime_core.config import load_config
from ganime_core.metrics import names
from ganime_core.splits import TEST
from orchestration.cli import main
from orchestration.tracking import tags
from tests.support.compares import CYCLEGAN, NST, PIX2PIX_TV, children, tiny_compare
from tests.support.ray_cluster import local_ray_cluster

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402

# What measured each method here: the stand-in InceptionV3, and NST's stand-in VGG19.
STANDINS = {"nst": (names.INCEPTION, names.VGG19)}


def fid_name(method: str) -> str:
    return names.logged_name("fid", TEST, STANDINS.get(method, (names.INCEPTION,)))


@pytest.fixture(scope="module")
def local_ray():
    """One private Ray cluster for this file's compares: its worker processes, TensorFlow
    imported and InceptionV3 built, serve the second compare too."""
    with local_ray_cluster():
        yield


def test_a_compare_writes_the_table_from_its_children_and_a_rerun_reuses_them(
    local_ray, tmp_path, mlflow_store, capsys, monkeypatch
) -> None:
    # NST measured in its own task (shards: 1): the split's shards over Ray tasks are
    # `ganime evaluate --workers`'s code, tested there; here each shard's fresh worker would
    # import TensorFlow and build InceptionV3 again.
    path = tiny_compare(
        tmp_path,
        "tiny",
        [PIX2PIX_TV, CYCLEGAN, NST],
        evaluation={"max_images": 6, "shards": 1, "grid_images": 2},
    )
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(path), "--storage", str(tmp_path / "storage")]) == 0
    out = capsys.readouterr().out
    assert "(6 to run, 0 reused)" in out

    client = MlflowClient(mlflow_store)
    parents = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string=f"tags.`{tags.SOURCE_NAME}` = 'ganime compare'",
    )
    parent = next(run for run in parents if tags.METHOD not in run.data.tags)
    runs = children(client, "tiny")
    assert sorted((r.data.tags[tags.METHOD], r.data.tags[tags.SEED]) for r in runs) == [
        (method, seed) for method in ("cyclegan", "nst", "pix2pix_tv") for seed in ("0", "1")
    ]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags[tags.PARENT_RUN] == parent.info.run_id  # nested under the table
        method = run.data.tags[tags.METHOD]
        standins = STANDINS.get(method, (names.INCEPTION,))
        # Every metric the Evaluator measures for this method here: whether it takes a
        # reference is its settings' to say; generated data has part maps; no swap was asked.
        experiment = next(
            m["experiment"] for m in (PIX2PIX_TV, CYCLEGAN, NST) if m["name"] == method
        )
        uses_reference = load_config(experiment).model.needs_reference
        measured = {
            name
            for metric, name in zip(
                names.EVALUATION_METRICS, names.evaluation_names(TEST, standins), strict=True
            )
            if names.unmeasured_because(
                metric, uses_reference=uses_reference, annotated=True, swap=False
            )
            is None
        }
        assert measured <= set(run.data.metrics)
    # Each child has its own model, so `ganime promote --run` takes any of them.
    from orchestration.release.promote import logged_generator
    from orchestration.tracking.registry import Registry

    registry = Registry(mlflow_store)
    logged = {r.data.tags[tags.METHOD]: logged_generator(registry, r)[1] for r in runs}
    assert logged == {"pix2pix_tv": "final_generator", "cyclegan": "final_generator",
                      "nst": "colorizer"}  # fmt: skip

    # The table's means and stds are the children's.
    metrics = parent.data.metrics
    for method in ("pix2pix_tv", "cyclegan", "nst"):
        fids = [
            r.data.metrics[fid_name(method)] for r in runs if r.data.tags[tags.METHOD] == method
        ]
        assert metrics[f"{method}.fid_mean"] == pytest.approx(np.mean(fids))
        assert metrics[f"{method}.fid_std"] == pytest.approx(np.std(fids, ddof=1))
        # The interval covers the seeds and the bootstrap over the 6 test images.
        assert metrics[f"{method}.fid_ci_low"] < np.mean(fids) < metrics[f"{method}.fid_ci_high"]
    result = json.loads(
        Path(
            client.download_artifacts(runs[0].info.run_id, "compare/result.json", str(tmp_path))
        ).read_text()
    )
    assert result["n"] == 6 and len(result["bootstrap"]["values"]["fid"]) == 200  # the default B
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"compare.md", "compare.csv", "compare_runs.csv", "compare_pairs.csv",
            "compare_metrics.png", "compare_grid.png"} <= artifacts  # fmt: skip
    table = Path(client.download_artifacts(parent.info.run_id, "compare.csv", str(tmp_path)))
    with table.open() as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert float(rows["nst"]["fid_mean"]) == pytest.approx(metrics["nst.fid_mean"], rel=1e-5)
    assert rows["pix2pix_tv"]["paper_fid"] == "220.5" and rows["cyclegan"]["paper_fid"] == "272.6"
    description = parent.data.tags[tags.RUN_NOTE]
    assert "| Method | Runs | FID ↓ |" in description and "FID vs nst" in description
    assert "FID 95% CI" in description and "(Holm)" in description
    assert parent.info.status == "FINISHED"
    for line in ("pix2pix_tv  2/2", "nst         2/2", "FID: "):
        assert line in out

    # Run again: every child is reused, none is trained, measured or duplicated; with nothing
    # to run, no task is submitted ("0 to run").
    assert main(["compare", str(path), "--storage", str(tmp_path / "storage")]) == 0
    assert "(0 to run, 6 reused)" in capsys.readouterr().out
    again = children(client, "tiny")
    assert sorted(r.info.run_id for r in again) == sorted(r.info.run_id for r in runs)
    assert [r.info.end_time for r in sorted(again, key=lambda r: r.info.run_id)] == [
        r.info.end_time for r in sorted(runs, key=lambda r: r.info.run_id)
    ]


def test_a_method_of_two_workers_trains_on_ray_train_and_is_measured_like_the_rest(
    local_ray, tmp_path, mlflow_store, capsys, monkeypatch
) -> None:
    path = tiny_compare(
        tmp_path, "wide", [PIX2PIX_TV], seeds=[0], trial={"workers": 2, "cpus_per_worker": 1}
    )
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(path), "--storage", str(tmp_path / "storage")]) == 0
    assert "pix2pix_tv  1/1" in capsys.readouterr().out
    client = MlflowClient(mlflow_store)
    (run,) = children(client, "wide")
    assert run.data.tags[tags.RUNNER] == "ray_train"  # rank 0 recorded the training
    assert run.info.status == "FINISHED" and fid_name("pix2pix_tv") in run.data.metrics
    assert [int(m.step) for m in client.get_metric_history(run.info.run_id, "epoch")] == [1]
    # Ray persisted the run's checkpoint in the compare's storage, where a resume finds it.
    assert list((tmp_path / "storage" / "wide" / "ray").glob("pix2pix_tv-seed0-*/epoch-0001"))
