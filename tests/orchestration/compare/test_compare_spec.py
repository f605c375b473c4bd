"""Compare files: every method at every seed resolved under one protocol, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganime_core.errors import ConfigError
from orchestration.compare.spec import load_compare
from tests.support.paths import COMPARE_FILES, EXPERIMENTS


def compare_file(tmp_path: Path, **changes) -> Path:
    raw = {
        "name": "tiny",
        "data": {"image_size": 32, "synthetic": {"count": 40}},
        "metrics": {"allow_untrained_backbone": True, "kid_subsets": 10, "kid_subset_size": 4},
        "seeds": 2,
        "epochs": 1,
        "evaluation": {"max_images": 8},
        "methods": [
            {
                "name": "pix2pix_tv",
                "experiment": str(EXPERIMENTS / "smoke.yaml"),
                "overrides": {"model.base_filters": 8},
            },
            {"name": "nst", "experiment": str(EXPERIMENTS / "nst_smoke.yaml")},
        ],
        **changes,
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_every_method_runs_at_every_seed_under_the_protocol(tmp_path) -> None:
    compare = load_compare(compare_file(tmp_path))
    assert compare.methods() == ["pix2pix_tv", "nst"]
    assert [(run.method, run.seed) for run in compare.runs] == [
        ("pix2pix_tv", 0),
        ("pix2pix_tv", 1),
        ("nst", 0),
        ("nst", 1),
    ]
    for run in compare.runs:
        config = run.config
        assert config.name == f"tiny-{run.method}" and config.seed == run.seed
        assert config.data.image_size == 32 and config.data.synthetic.count == 40
        assert config.data.synthetic.seed == 0  # the method's own data keys the protocol left
        assert config.metrics.max_images == 8 and config.metrics.reference == "random_train"
    pix2pix = compare.runs[0]
    assert pix2pix.trains and pix2pix.config.model.base_filters == 8
    train = pix2pix.config.train
    # Training only trains: the compare measures every run after it, the same way.
    assert train.epochs == 1 and not train.evaluates_any()
    assert not compare.runs[2].trains  # NST trains nothing: it is only evaluated
    assert compare.baseline() == "nst"  # unset: the first NST method
    assert [(r.method, r.seed) for r in compare.in_order_of_work()] == [
        ("pix2pix_tv", 0),
        ("nst", 0),
        ("pix2pix_tv", 1),
        ("nst", 1),
    ]


def test_methods_that_would_be_measured_differently_are_refused(tmp_path) -> None:
    # nst_smoke.yaml measures KID on subsets of 4, smoke.yaml on its default: the compare must
    # say which, or its numbers would not be comparable.
    path = compare_file(tmp_path, metrics={"allow_untrained_backbone": True})
    with pytest.raises(ConfigError, match="measured differently: metrics.kid_subset_size"):
        load_compare(path)
    compare = load_compare(compare_file(tmp_path))  # the compare file's metrics section says
    assert {run.config.metrics.kid_subset_size for run in compare.runs} == {4}


def test_a_run_key_changes_with_what_the_result_depends_on(tmp_path) -> None:
    compare = load_compare(compare_file(tmp_path))
    evaluation = compare.config.evaluation
    keys = {run.key(evaluation) for run in compare.runs}
    assert len(keys) == len(compare.runs)  # every method and seed its own
    again = load_compare(compare_file(tmp_path))
    assert [r.key(evaluation) for r in again.runs] == [r.key(evaluation) for r in compare.runs]
    # Where outputs go and how many checkpoints are kept change nothing measured ...
    moved = compare.runs[0].config.replace({"train.output_dir": tmp_path / "elsewhere"})
    assert type(compare.runs[0])("pix2pix_tv", 0, moved).key(evaluation) == (
        compare.runs[0].key(evaluation)
    )
    # ... the training budget and the held-out images do.
    longer = load_compare(compare_file(tmp_path, epochs=2))
    assert longer.runs[0].key(longer.config.evaluation) != compare.runs[0].key(evaluation)
    fewer = load_compare(compare_file(tmp_path, evaluation={"max_images": 4}))
    assert fewer.runs[2].key(fewer.config.evaluation) != compare.runs[2].key(evaluation)


def test_a_compare_round_trips_through_its_record(tmp_path) -> None:
    compare = load_compare(compare_file(tmp_path))
    restored = type(compare).from_record(compare.to_record())
    assert restored.config == compare.config
    assert [(r.method, r.seed, r.config) for r in restored.runs] == [
        (r.method, r.seed, r.config) for r in compare.runs
    ]


def test_overrides_and_a_seed_list_change_the_compare(tmp_path) -> None:
    compare = load_compare(compare_file(tmp_path), ["seeds=[3, 7]", "epochs=4"])
    assert sorted({run.seed for run in compare.runs}) == [3, 7]
    assert compare.runs[0].config.train.epochs == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seeds": 0}, "at least one seed"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"epochs": 0}, "epochs"),
        ({"methods": []}, "methods"),
        (
            {"methods": [{"name": "a", "experiment": "x.yaml"}] * 2},
            "method names must be distinct",
        ),
        (
            {
                "methods": [
                    {
                        "name": "a",
                        "experiment": str(EXPERIMENTS / "smoke.yaml"),
                        "overrides": {"train.epochs": 9},
                    }
                ]
            },
            "overrides.train.epochs is the protocol's",
        ),
        (
            {
                "methods": [
                    {
                        "name": "a",
                        "experiment": str(EXPERIMENTS / "smoke.yaml"),
                        "overrides": {"model.lambda_tv": -1},
                    }
                ]
            },
            "method a",
        ),
        ({"methods": [{"name": "a", "experiment": "missing.yaml"}]}, "no such experiment file"),
        ({"baseline": "nope"}, "baseline 'nope' is not one of the methods"),
        (
            {
                "methods": [
                    {
                        "name": "a",
                        "experiment": str(EXPERIMENTS / "smoke.yaml"),
                        "overrides": {"metrics.max_images": 3},
                    }
                ]
            },
            "overrides.metrics.max_images is the protocol's",
        ),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_a_wrong_compare_file_is_one_line_naming_what(tmp_path, changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_compare(compare_file(tmp_path, **changes))


@pytest.mark.parametrize("path", COMPARE_FILES, ids=lambda p: p.name)
def test_every_compare_file_validates(path: Path) -> None:
    # compare_paper.yaml names the Kaggle folder, absent here: generated data stands in.
    compare = load_compare(path, ["data.path=null"])
    assert len(compare.config.seed_list()) == 3
    if path.name == "compare_reference.yaml":  # Style2paints after references, Pix2Pix the control
        assert set(compare.families().values()) == {"pix2pix", "style2paints"}
        assert compare.baseline() == "pix2pix"
        for run in compare.runs:
            assert run.config.data.synthetic.palette == "free"
            assert run.config.metrics.reference == "same_palette" and run.config.metrics.swap
            if run.config.model.family == "style2paints":
                assert run.config.model.training_reference == "same_palette"
        return
    assert set(compare.families().values()) == {
        "nst", "fast_nst", "pix2pix", "cyclegan", "style2paints"
    }  # fmt: skip
    assert len(compare.methods()) == 6
    assert compare.baseline() == "nst"


def test_the_paper_compare_keeps_each_method_at_its_paper_settings() -> None:
    compare = load_compare(EXPERIMENTS / "compare_paper.yaml", ["data.path=null"])
    config = {run.method: run.config for run in compare.runs}
    assert (config["pix2pix"].train.epochs, config["pix2pix"].train.batch_size) == (150, 32)
    assert (config["cyclegan"].train.epochs, config["cyclegan"].train.batch_size) == (150, 8)
    assert config["nst"].model.steps == 1000
    assert config["pix2pix_tv"].metrics.max_images is None  # all 3,545 test images
    assert not config["nst"].metrics.allow_untrained_backbone  # ImageNet InceptionV3 only
    assert compare.config.trial.gpus_per_worker == 1


def test_a_dry_run_prints_methods_resources_and_the_order_of_work(
    tmp_path, capsys, monkeypatch
) -> None:
    from orchestration.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(compare_file(tmp_path)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "pix2pix_tv       pix2pix      trains 1 epochs at batch 8 on 1 worker(s)" in out
    assert "nst              nst          trains nothing; measured in" in out
    assert "1. pix2pix_tv seed 0: to run\n    2. nst seed 0: to run" in out
    assert out.rstrip().endswith("dry run: nothing started")
    assert not (tmp_path / "mlflow.db").exists()  # starts, and creates, nothing


def test_resume_takes_the_compare_as_started_and_names_a_missing_one(
    tmp_path, capsys, monkeypatch
) -> None:
    from orchestration.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--resume", "tiny", "--set", "seeds=1"]) == 2
    assert "--resume continues a compare as it was started" in capsys.readouterr().err
    assert main(["compare", "--resume", "tiny", "--storage", str(tmp_path)]) == 2
    assert f"no compare 'tiny' in {tmp_path}" in capsys.readouterr().err
