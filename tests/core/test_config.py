from __future__ import annotations

from pathlib import Path

import pytest

from ganime_core.config import apply_overrides, load_config, parse_config
from ganime_core.errors import ConfigError
from tests.support.paths import EXPERIMENT_FILES, EXPERIMENTS, SMOKE


def minimal(**sections) -> dict:
    return {"name": "t", "model": {"family": "pix2pix"}, **sections}


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=lambda p: p.name)
def test_every_experiment_file_validates(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem


def test_paper_settings_are_the_defaults_of_the_paper_files() -> None:
    tv = load_config(EXPERIMENTS / "pix2pix_tv.yaml")
    assert (tv.data.image_size, tv.train.batch_size, tv.train.epochs) == (256, 32, 150)
    assert (tv.model.lambda_l1, tv.model.lambda_tv, tv.model.tv_norm) == (100.0, 1e-4, "l1")
    assert (tv.optimizer.learning_rate, tv.optimizer.beta_1) == (2e-4, 0.5)
    assert tv.train.checkpoint_every == 5
    assert load_config(EXPERIMENTS / "pix2pix.yaml").model.lambda_tv == 0.0
    cycle = load_config(EXPERIMENTS / "cyclegan.yaml")
    assert (cycle.model.lambda_cycle, cycle.model.lambda_identity) == (10.0, 5.0)
    assert (cycle.model.norm, cycle.train.batch_size) == ("instance", 8)
    nst = load_config(EXPERIMENTS / "nst.yaml").model
    assert nst.style_layers == tuple(f"block{i}_conv1" for i in range(1, 6))
    assert nst.content_layers == ("block5_conv2",)
    assert (nst.style_weight, nst.content_weight, nst.steps) == (1e-2, 1e4, 1000)
    assert (nst.learning_rate, nst.beta_1, nst.epsilon) == (0.02, 0.99, 0.1)
    assert not nst.allow_untrained_vgg  # the paper's numbers need ImageNet VGG19
    assert load_config(EXPERIMENTS / "fast_nst.yaml").model.style_size == 256


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (minimal(typo=1), "typo: unknown key"),
        ({"name": "t", "model": {"family": "pix2pix", "lambda_cycle": 1}}, "model.lambda_cycle"),
        ({"name": "t", "model": {"family": "stylegan"}}, "unknown model family 'stylegan'"),
        ({"name": "t", "model": {}}, "missing model.family"),
        ({"name": "t"}, "model: Field required"),
        ({"name": "t", "model": {"family": "pix2pix", "lambda_tv": -1}}, "model.lambda_tv"),
        ({"name": "t", "model": {"family": "pix2pix", "lambda_l1": "x"}}, "model.lambda_l1"),
        ({"name": "t", "model": {"family": "cyclegan", "lambda_cycle": -0.1}}, "lambda_cycle"),
        ({"name": "t", "model": {"family": "pix2pix", "lambda_tv": float("nan")}}, "lambda_tv"),
        (minimal(data={"image_size": 100}), "data.image_size: must be a power of two"),
        (
            minimal(train={"checkpoint_every": 2, "eval_every": 3}),
            "train: eval_every (3) must be a multiple of checkpoint_every (2)",
        ),
        (minimal(metrics={"backbone_size": 64}), "metrics.backbone_size"),
        (minimal(metrics={"inceptionweights": "x"}), "metrics.inceptionweights: unknown key"),
        (minimal(data={"image_size": 16}), "data.image_size"),
        (minimal(train={"batch_size": 0}), "train.batch_size"),
        (minimal(train={"epochs": 0}), "train.epochs"),
        (minimal(optimizer={"learning_rate": 0}), "optimizer.learning_rate"),
        (minimal(data={"path": "/no/such/folder"}), "data.path: folder /no/such/folder does not"),
        (minimal(data={"layout": "unpaired"}), "pix2pix needs paired data"),
        (minimal(name="has space"), "name"),
    ],
)
def test_rejections_name_the_field(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_data_folder_must_hold_the_layouts_splits(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError, match="has no val/ folder"):
        parse_config(minimal(data={"path": str(tmp_path)}))
    (tmp_path / "val").mkdir()
    assert parse_config(minimal(data={"path": str(tmp_path)})).data.path == tmp_path
    cycle = {"name": "t", "model": {"family": "cyclegan"}}
    with pytest.raises(ConfigError, match="has no trainA/ folder"):
        parse_config({**cycle, "data": {"path": str(tmp_path), "layout": "unpaired"}})


def test_overrides_parse_values_as_yaml_and_reach_nested_keys() -> None:
    config = load_config(
        SMOKE, ["model.lambda_tv=1e-3", "model.tv_norm=l2", "data.jitter=false", "seed=7"]
    )
    assert config.model.lambda_tv == 1e-3
    assert config.model.tv_norm == "l2"
    assert config.data.jitter is False
    assert config.seed == 7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.lambda_tvv=1", "model.lambda_tvv: unknown key"),
        ("nonsense", "expected key=value"),
        ("name.sub=1", "name is a value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(SMOKE, [override])


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = {"model": {"family": "pix2pix"}}
    apply_overrides(raw, ["model.lambda_tv=1"])
    assert raw == {"model": {"family": "pix2pix"}}


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)


def test_fingerprint_ignores_budget_and_outputs_but_not_the_model() -> None:
    base = load_config(SMOKE)
    assert base.fingerprint() == load_config(SMOKE, ["train.epochs=9"]).fingerprint()
    assert base.fingerprint() == load_config(SMOKE, ["train.output_dir=/x"]).fingerprint()
    assert base.fingerprint() != load_config(SMOKE, ["model.lambda_tv=0"]).fingerprint()
    assert base.fingerprint() != load_config(SMOKE, ["seed=1"]).fingerprint()


def test_flat_uses_dotted_names() -> None:
    flat = load_config(SMOKE).flat()
    assert flat["model.lambda_tv"] == 1e-4
    assert flat["data.synthetic.count"] == 200
    assert flat["model.family"] == "pix2pix"


def test_replace_is_the_one_validated_way_to_change_a_config() -> None:

    config = load_config(SMOKE)
    changed = config.replace({"metrics.max_images": 40, "train.output_dir": Path("/tmp/x")})
    assert changed.metrics.max_images == 40 and changed.train.output_dir == Path("/tmp/x")
    assert config.metrics.max_images is None  # the original is frozen and unchanged
    with pytest.raises(ConfigError, match="model.lambda_tv"):
        config.replace({"model.lambda_tv": -1.0})
    with pytest.raises(ConfigError, match="unknown key"):
        config.replace({"train.epochz": 3})


def test_schedulable_keys_are_the_loss_weights_and_the_optimizer_step_of_the_family() -> None:
    """What a PBT exploit may change under a checkpoint: loss weights and the optimizer's
    hyperparameters, never a key that shapes a variable; and only those leave the fingerprint."""
    config = load_config(SMOKE)
    keys = config.schedulable_keys()
    assert {"model.lambda_l1", "model.lambda_tv", "model.tv_norm"} <= keys
    assert {"optimizer.learning_rate", "optimizer.beta_1", "optimizer.beta_2"} <= keys
    assert not keys & {"model.base_filters", "model.norm", "data.image_size", "seed"}
    changed = config.replace({"model.lambda_l1": 3.0, "optimizer.learning_rate": 1e-3})
    assert changed.fingerprint() != config.fingerprint()
    assert changed.fingerprint(excluding=keys) == config.fingerprint(excluding=keys)
    wider = config.replace({"model.base_filters": 4})
    assert wider.fingerprint(excluding=keys) != config.fingerprint(excluding=keys)
