"""Sweep files: validation, --set routing, the search space and the dry-run plan (no Ray)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ganime_core.errors import ConfigError, MetricsError
from orchestration.sweep.plan import plan_sweep
from orchestration.sweep.spec import AshaSettings, load_sweep
from orchestration.sweep.trainable import trial_name, trial_number, trial_run_name
from tests.support.paths import EXPERIMENTS, SWEEP_FILES
from tests.support.processes import ganime_command

QUICKSTART = EXPERIMENTS / "quickstart.yaml"


def write_sweep(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(QUICKSTART.read_text())
    raw["experiment"] = str(EXPERIMENTS / "pix2pix_tv.yaml")
    if "search" in changes:
        raw["start_with"] = []  # the quickstart's point may not fit another space
    raw.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_quickstart_sweep_resolves_its_base_experiment() -> None:
    sweep = load_sweep(QUICKSTART)
    assert sweep.name == "quickstart"
    # Ranked on the selection split; no ImageNet weights on this machine
    assert sweep.metric_key == "selection_fid_untrained_inception"
    assert sweep.base.name == "quickstart"  # trials log to the sweep's MLflow experiment
    assert sweep.base.train.epochs == sweep.config.max_epochs == 4
    assert sweep.base.data.image_size == 64 and sweep.base.model.base_filters == 16
    trial = sweep.trial_config(
        {"model.lambda_tv": 3e-5, "model.lambda_l1": 120.0, "model.tv_norm": "l2"}
    )
    assert (trial.model.lambda_tv, trial.model.lambda_l1, trial.model.tv_norm) == (
        3e-5,
        120.0,
        "l2",
    )
    assert trial.fingerprint() != sweep.base.fingerprint()


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_sweep_file_validates(path) -> None:
    # Real sweeps need the ImageNet weights; this machine has none.
    sweep = load_sweep(path, ["metrics.allow_untrained_backbone=true"])
    train = sweep.base.train
    assert all(train.evaluates(epoch) for epoch in sweep.config.evaluated_epochs())
    if path != QUICKSTART:
        assert sweep.config.trial.gpus_per_worker >= 1  # the cluster sweeps


def test_set_reaches_the_sweep_or_the_base_experiment_by_its_first_key() -> None:
    sweep = load_sweep(QUICKSTART, ["num_samples=2", "max_epochs=2", "data.image_size=64"])
    assert sweep.config.num_samples == 2
    assert sweep.base.train.epochs == 2
    assert sweep.base.data.image_size == 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"search": {"model.lambda_tvv": {"uniform": [0, 1]}}}, "not a searchable key"),
        ({"search": {"model.lambda_tv": {"uniform": [1, 0]}}}, "must be below"),
        ({"search": {"model.lambda_tv": {"loguniform": [0, 1]}}}, "must be positive"),
        ({"search": {"model.lambda_tv": {"uniform": [0, 1], "choice": [1]}}}, "exactly one"),
        ({"search": {"model.tv_norm": {"choice": ["l1", "l3"]}}}, "'l3' is not valid"),
        ({"search": {"model.lambda_l1": {"uniform": [-5.0, 1.0]}}}, "-5.0 is not valid"),
        ({"metric": "fid", "mode": "max"}, "contradicts"),
        ({"metric": "swap"}, "swap: its trials would never report it: .* takes none"),
        ({"metric": "ab_distance"}, "follows its reference; this one takes none"),
        ({"asha": {"grace_period": 5}}, "exceeds max_epochs"),
        ({"asha": {"max_epochs": 4}}, "max_epochs is the sweep's own now"),
        ({"start_with": [{"model.lambda_tv": 1.0}]}, "exactly the searched keys"),
        ({"num_samples": 0}, "num_samples"),
        ({"surprise": 1}, "unknown key"),
    ],
)
def test_a_wrong_sweep_is_one_error_naming_the_field(tmp_path, changes, message) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_sweep(write_sweep(tmp_path, **changes))
    assert "\n" not in str(error.value)


def test_a_sweep_ranks_on_a_colour_metric_only_where_its_trials_measure_it(tmp_path) -> None:
    """Pix2Pix on generated data reports part_delta_e (its selection name carries no mark:
    InceptionV3 never touches it); swap needs a method with references and metrics.swap."""
    sweep = load_sweep(write_sweep(tmp_path, metric="part_delta_e"))
    assert sweep.metric_key == "selection_part_delta_e"
    assert sweep.config.objective_mode == "min"
    kaggle = tmp_path / "kaggle"
    for folder in ("train", "val"):
        (kaggle / folder).mkdir(parents=True)
    with pytest.raises(ConfigError, match="part_delta_e needs part maps and palettes"):
        load_sweep(write_sweep(tmp_path, metric="part_delta_e"), [f"data.path={kaggle}"])


def test_every_asha_rung_must_be_an_evaluation_epoch(tmp_path) -> None:
    """ASHA decides on the metric at its rungs; an unevaluated rung would decide on nothing."""
    with pytest.raises(ConfigError, match=r"decides at epochs \[1, 2\].*none at \[1\]"):
        load_sweep(write_sweep(tmp_path), ["train.eval_every=2", "train.checkpoint_every=2"])
    with pytest.raises(ConfigError, match=r"evaluates none at \[1, 2, 4\]"):
        load_sweep(write_sweep(tmp_path), ["train.eval_every=0"])
    assert AshaSettings(grace_period=2, reduction_factor=3).rungs(20) == [2, 6, 18]


def test_a_sweep_that_leaves_eval_every_unset_evaluates_at_the_rungs_and_the_end(
    tmp_path,
) -> None:
    """An evaluation can cost more than an epoch of a small model: a sweep evaluates where ASHA
    decides and where the trial ends, not every epoch."""
    train = load_sweep(write_sweep(tmp_path, max_epochs=8)).base.train
    assert train.eval_every == 0 and train.eval_epochs == (1, 2, 4, 8)
    assert [e for e in range(1, 9) if train.evaluates(e)] == [1, 2, 4, 8]
    explicit = load_sweep(write_sweep(tmp_path), ["train.eval_every=1"]).base.train
    assert explicit.eval_every == 1 and explicit.eval_epochs == ()


def test_a_sweep_without_weights_measures_fid_with_the_weights_its_trials_fetch(tmp_path) -> None:
    # assets.auto_fetch (on by default): each trial's worker fetches the ImageNet weights.
    sweep = load_sweep(write_sweep(tmp_path), ["metrics.allow_untrained_backbone=false"])
    assert sweep.metric_key == "selection_fid"
    # With fetching off, the sweep stops before any trial starts, saying how to get them.
    with pytest.raises(MetricsError, match="ganime assets fetch inception_v3"):
        load_sweep(
            write_sweep(tmp_path),
            ["metrics.allow_untrained_backbone=false", "assets.auto_fetch=false"],
        )
    # SSIM needs no backbone.
    assert load_sweep(write_sweep(tmp_path, metric="ssim")).metric_key == "selection_ssim"


def test_the_plan_counts_the_trials_that_fit() -> None:
    sweep = load_sweep(QUICKSTART, ["trial.workers=2", "max_concurrent_trials=8"])
    plan = plan_sweep(sweep, {"CPU": 9.0}, "test")
    assert (plan.trial_cpus, plan.at_once) == (2, 4)
    assert plan_sweep(sweep, {"CPU": 1.0}, "test").at_once == 0
    gpus = load_sweep(QUICKSTART, ["trial.gpus_per_worker=1", "num_samples=20"])
    assert plan_sweep(gpus, {"CPU": 64.0, "GPU": 3.0}, "test").at_once == 2  # capped at 2 by file
    assert plan_sweep(gpus, {"CPU": 64.0, "GPU": 0.0}, "test").at_once == 0


def test_trials_get_numbers_and_names_a_person_can_read() -> None:
    class Trial:  # what Tune's search generator makes: a counter first in the tag
        experiment_tag = "12_lambda_tv=0.0001"
        trial_id = "7fa96938"

    assert trial_name(Trial()) == "t12-7fa96938"
    assert trial_number("t12-7fa96938") == 12 and trial_number("odd") == 0
    name = trial_run_name(
        "quickstart", 3, {"model.lambda_tv": 2.1234e-05, "model.lambda_l1": 97.31, "x.n": "l2"}
    )
    assert name == "quickstart-t03 lambda_tv=2.1e-05 lambda_l1=97.3 n=l2"


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path) -> None:
    out = subprocess.run(
        [*ganime_command(), "sweep", str(QUICKSTART), "--dry-run", "--set", "num_samples=3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    for expected in (
        "model.lambda_tv  loguniform(3.0, 100.0)",
        "model.tv_norm    choice(l1, l2)",
        "3 trials",
        "compared at epochs 1, 2",
        "= 1 CPU, 0 GPU",
        "trial(s) at once",
        "nothing started",
    ):
        assert expected in out
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_the_end_of_a_sweep_names_the_best_trial_and_how_to_browse_it(monkeypatch) -> None:
    from orchestration.sweep.summary import SweepOutcome, TrialRow, report_lines

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/somewhere/mlflow.db")
    sweep = load_sweep(QUICKSTART)
    rows = [
        TrialRow(
            trial=1, trial_id="a", epochs=4, status="FINISHED", stop_reason="completed",
            run_id="r1", best_epoch=4,
            params={"model.lambda_tv": 1e-4, "model.lambda_l1": 100.0, "model.tv_norm": "l1"},
            metrics={"selection_fid_untrained_inception": 5.926,
                     "selection_kid_mean_untrained_inception": 0.0088,
                     "selection_kid_std_untrained_inception": 1e-16, "selection_ssim": 0.3233},
        ),
        TrialRow(trial=2, trial_id="b", params={}, epochs=1, status="KILLED", run_id="r2",
                 stop_reason="stopped early by ASHA at epoch 1"),
        TrialRow(trial=3, trial_id="c", params={}, epochs=1, status="FAILED", run_id="r3",
                 stop_reason="failed: loss gen_total became nan at epoch 1, step 2"),
    ]  # fmt: skip
    lines = report_lines(sweep, SweepOutcome("parent", "7", rows, rows[0]))
    assert lines[0] == (
        "sweep quickstart: 3 trials (1 completed, 1 stopped early by ASHA, 1 failed)"
    )
    assert "model.lambda_tv=0.0001, model.lambda_l1=100, model.tv_norm=l1" in lines[1]
    assert lines[2] == (
        "  at epoch 4: selection_fid_untrained_inception 5.926, "
        "selection_kid_mean_untrained_inception 0.0088, selection_ssim 0.3233"
    )
    assert "mlflow ui --backend-store-uri sqlite:////tmp/somewhere/mlflow.db" in lines[3]
    assert lines[3].endswith(
        "http://127.0.0.1:5000/#/experiments/7/runs/parent?workflowType=machine_learning"
    )


def test_the_live_table_fits_the_metric_in_a_short_heading_and_names_it_in_full() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from orchestration.sweep.callbacks import ProgressTable

    sweep = load_sweep(QUICKSTART)
    trial = SimpleNamespace(
        experiment_tag="1_lambda_tv=0.0001",
        trial_id="abc",
        config={"model.lambda_tv": 1e-4, "model.lambda_l1": 100.0, "model.tv_norm": "l1"},
        last_result={"epoch": 2, sweep.metric_key: 0.1124},
        status="RUNNING",
    )
    console = Console(width=80, record=True)
    console.print(ProgressTable(sweep).table([trial]))
    screen = console.export_text()
    assert "selection fid" in screen and "0.1124" in screen and "running" in screen
    assert "selection_fid_untrained_inception" in screen  # the caption: what the column holds


def test_trials_csv_has_a_column_per_searched_key_and_metric_in_the_rows_order(tmp_path) -> None:
    """trials.csv: trial, its id, the searched values, epochs, the best epoch and its metrics,
    then how it ended; a trial with no evaluation leaves those cells empty, and whether the
    driver's interrupt cut it off is not a column (its stop reason says so)."""
    import csv

    from orchestration.sweep.summary import TrialRow, write_trials_csv

    rows = [
        TrialRow(trial=1, trial_id="a", params={"model.lambda_tv": 1e-4}, epochs=2,
                 status="FINISHED", stop_reason="completed", run_id="r1", best_epoch=2,
                 metrics={"selection_ssim": 0.5}),
        TrialRow(trial=2, trial_id="b", params={"model.lambda_tv": 1e-3}, epochs=0,
                 status="KILLED", stop_reason="interrupted at epoch 0", run_id="", ended=False),
    ]  # fmt: skip
    write_trials_csv(rows, tmp_path / "trials.csv")
    with (tmp_path / "trials.csv").open() as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["trial", "trial_id", "model.lambda_tv", "epochs", "best_epoch",
                        "selection_ssim", "status", "stop_reason", "run_id"]  # fmt: skip
    assert table[1] == ["1", "a", "0.0001", "2", "2", "0.5", "FINISHED", "completed", "r1"]
    assert table[2] == ["2", "b", "0.001", "0", "", "", "KILLED", "interrupted at epoch 0", ""]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scheduler": "pbt", "asha": None}, r"scheduler pbt needs pbt: \{interval: N\}"),
        (
            {"scheduler": "pbt", "pbt": {"interval": 2}},
            "asha: given, but scheduler is pbt",
        ),
        (
            {"scheduler": "pbt", "asha": None, "pbt": {"interval": 1}, "sampler": "tpe"},
            "scheduler pbt evolves its population itself .* use sampler: random or grid",
        ),
        (
            {"scheduler": "pbt", "asha": None, "pbt": {"interval": 4}, "sampler": "random"},
            r"pbt.interval \(4\) must be below max_epochs \(4\)",
        ),
        (
            {"metric": ["fid", "ssim"]},
            "scheduler asha ranks trials on one metric, and metric names 2; .* scheduler: none",
        ),
        (
            {"metric": ["fid", "ssim"], "scheduler": "pbt", "asha": None, "pbt": {"interval": 1}},
            "scheduler pbt ranks trials on one metric",
        ),
        ({"sampler": "nsga2"}, "sampler nsga2 searches a front of several metrics"),
        ({"metric": ["fid", "fid"], "scheduler": "none", "asha": None}, "each metric once"),
        (
            {"metric": ["fid", "ssim"], "scheduler": "none", "asha": None, "mode": "min"},
            "each take their own direction",
        ),
        ({"pick": {"prefer": "ssim"}}, "pick chooses a trial from a front"),
        (
            {
                "metric": ["fid", "ssim"],
                "scheduler": "none",
                "asha": None,
                "pick": {"prefer": "kid"},
            },
            r"pick.prefer: kid is not one of metric \['fid', 'ssim'\]",
        ),
        ({"sampler": "grid"}, "sampler grid visits every point; start_with has nothing to add"),
        (
            {"sampler": "grid", "start_with": []},
            "sampler grid needs values: search.model.lambda_l1 is loguniform; give grid_points",
        ),
        (
            {"sampler": "grid", "start_with": [], "grid_points": 2},
            r"the grid has 8 points; set num_samples: 8",
        ),
        ({"grid_points": 3}, "grid_points: only sampler grid uses it, and sampler is tpe"),
    ],
)
def test_every_refused_sampler_scheduler_pair_says_why_in_one_line(
    tmp_path, changes, message
) -> None:
    raw = {key: value for key, value in changes.items() if value is not None}
    path = write_sweep(tmp_path, **raw)
    if any(value is None for value in changes.values()):
        written = yaml.safe_load(path.read_text())
        for key in (key for key, value in changes.items() if value is None):
            written.pop(key, None)
        path.write_text(yaml.safe_dump(written))
    with pytest.raises(ConfigError, match=message) as error:
        load_sweep(path)
    assert "\n" not in str(error.value)


def test_pbt_searches_only_keys_a_running_trial_may_change(tmp_path) -> None:
    pbt = {"scheduler": "pbt", "sampler": "random", "pbt": {"interval": 2}, "start_with": []}
    path = write_sweep(tmp_path, **pbt, search={"model.base_filters": {"integer": [4, 8]}})
    written = yaml.safe_load(path.read_text())
    del written["asha"]
    path.write_text(yaml.safe_dump(written))
    with pytest.raises(ConfigError, match="search.model.base_filters: PBT changes .* shapes"):
        load_sweep(path)


def test_the_accepted_pairs_evaluate_where_their_scheduler_decides(tmp_path) -> None:
    def load(**changes):
        path = write_sweep(tmp_path, **changes)
        written = yaml.safe_load(path.read_text())
        if changes.get("scheduler", "asha") != "asha":
            del written["asha"]
        path.write_text(yaml.safe_dump(written))
        return load_sweep(path, ["max_epochs=6"])

    pbt = load(scheduler="pbt", sampler="random", pbt={"interval": 2}, start_with=[])
    assert pbt.base.train.eval_epochs == (2, 4, 6)
    assert "PBT (synchronous)" in pbt.config.scheduler_line()
    front = load(metric=["fid", "ssim"], scheduler="none", sampler="nsga2")
    assert front.metric_keys == ("selection_fid_untrained_inception", "selection_ssim")
    assert front.base.train.eval_epochs == (6,) and front.multi_objective
    grid = load(sampler="grid", grid_points=2, num_samples=8, start_with=[])
    points = grid.config.grid_values()
    assert len(points) == 8 and points[0]["model.lambda_tv"] == pytest.approx(3.0)
    assert sorted({p["model.lambda_l1"] for p in points}) == pytest.approx([30.0, 300.0])


def test_pbt_explores_within_the_bounds_from_its_seed() -> None:
    from orchestration.sweep.search import BoundedExplore
    from orchestration.sweep.spec import Dimension

    search = {
        "optimizer.learning_rate": Dimension(loguniform=(1e-4, 1e-2)),
        "model.lambda_l1": Dimension(uniform=(10.0, 20.0)),
        "model.tv_norm": Dimension(choice=["l1", "l2"]),
    }
    explore = BoundedExplore(search, resample_probability=0.25, factors=(0.8, 1.2), seed=3)
    again = BoundedExplore(search, resample_probability=0.25, factors=(0.8, 1.2), seed=3)
    at_the_edge = {"optimizer.learning_rate": 1e-2, "model.lambda_l1": 10.0, "model.tv_norm": "l2"}
    explored = [explore(at_the_edge) for _ in range(200)]
    assert explored == [again(at_the_edge) for _ in range(200)]
    for point in explored:
        assert all(search[key].contains(value) for key, value in point.items())
    rates = {point["optimizer.learning_rate"] for point in explored}
    assert 8e-3 in {round(r, 6) for r in rates}  # perturbed down by 0.8 from the upper bound
    assert any(r < 8e-3 for r in rates)  # and resampled
    assert {point["model.tv_norm"] for point in explored} == {"l1", "l2"}
