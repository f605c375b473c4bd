"""Compare files: every method at every seed resolved under one protocol, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganime_core.errors import ConfigError
from orchestration.compare.spec import load_compare
from tests.conftest import EXPERIMENTS


def compare_file(tmp_path: Path, **changes) -> Path:
    raw = {
        "name": "tiny",
        "data": {"image_size": 32, "synthetic": {"count": 40}},
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
    assert train.epochs == 1 and [e for e in range(1, 5) if train.evaluates(e)] == [1]
    assert not compare.runs[2].trains  # NST trains nothing: it is only evaluated


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
        ({"colour": 1}, "unknown key"),
    ],
)
def test_a_wrong_compare_file_is_one_line_naming_what(tmp_path, changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_compare(compare_file(tmp_path, **changes))
