"""Every method, trainable or not, through every path, by its public commands at tiny sizes:
its weights (`ganime train`, for a method that trains) -> `ganime evaluate` (`--checkpoint`, or
the experiment file of a method that trains nothing) -> `ganime colorize` (`--checkpoint`, or
the logged model; `--reference` where the method needs one) -> the logged MLflow model's pyfunc
`predict` (the same colours as `colorize`) -> `ganime promote --run`.

What each step passes is decided by the method's settings (`trainable`, `needs_reference`), never
by its name; a method added to the registry without an experiment here fails the first test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganime_core.config import FAMILY_NAMES, ExperimentConfig, ModelConfig, load_config
from ganime_core.errors import ConfigError, GanimeError
from tests.support.paths import EXPERIMENTS, REPO, SMOKE, STYLE2PAINTS_SMOKE

# Each method's experiment file; the test shrinks it (TINY, and TRAINED for one that trains).
EXPERIMENT_FILES = {
    "pix2pix": SMOKE,
    "cyclegan": EXPERIMENTS / "cyclegan.yaml",
    "style2paints": STYLE2PAINTS_SMOKE,
    "nst": EXPERIMENTS / "nst_smoke.yaml",
    "fast_nst": EXPERIMENTS / "fast_nst.yaml",
}
TINY = (
    "data.image_size=32",
    "data.synthetic.count=20",  # 16 train images (2 of them the selection split), 4 test
    "data.selection=2",
    "train.sample_images=2",
    "metrics.allow_untrained_backbone=true",
    "metrics.backbone_size=75",
    "metrics.batch_size=4",
    "metrics.kid_subset_size=4",
    "metrics.kid_subsets=2",
)
# One epoch of 4 steps, evaluated on the selection split: a best_generator to promote.
TRAINED = (
    "model.base_filters=4",
    "train.epochs=1",
    "train.batch_size=4",
    "train.checkpoint_every=1",
    "train.eval_every=1",
)
OWN = {
    "style2paints": ("model.allow_untrained_vgg=true",),  # the seeded stand-in VGG19
    "nst": ("model.steps=3", "model.batch_size=4", "model.allow_untrained_vgg=true"),
    "fast_nst": ("model.batch_size=1",),  # + model.handle: a seeded stand-in SavedModel
}


def test_every_registered_family_has_settings_and_a_walk_here() -> None:
    import typing

    settings = typing.get_args(typing.get_args(ModelConfig)[0])
    declared = {typing.get_args(s.model_fields["family"].annotation)[0] for s in settings}
    assert declared == set(FAMILY_NAMES) == set(EXPERIMENT_FILES)
    for family_settings in settings:  # what a method needs, declared on its settings
        assert isinstance(family_settings.needs_reference, bool)
        assert isinstance(family_settings.trainable, bool)


def test_listing_the_families_imports_no_tensorflow() -> None:
    code = (
        "import sys, ganime_core.config, ganime_core.families; "
        "print(sorted(ganime_core.families.FAMILIES), 'tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.strip().endswith("False"), done.stdout


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_the_registry_builds_each_method_one_way_and_refuses_the_other_in_one_line(
    family: str,
) -> None:
    from ganime_core.families import build_colorizer, build_family

    config = load_config(EXPERIMENT_FILES[family], [*TINY, *OWN.get(family, ())])
    if config.model.trainable:
        with pytest.raises(GanimeError) as refused:
            build_colorizer(config)
    else:
        with pytest.raises(ConfigError) as refused:
            build_family(config)
    message = str(refused.value)
    assert "\n" not in message and family in message


@pytest.mark.slow
@pytest.mark.usefixtures("cache_dir")
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_through_every_path(
    family: str, tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from orchestration.tracking.model import IMAGE_COLUMN, sketch_frame
    from tests.support.commands import ganime, sketches_and_references

    monkeypatch.chdir(tmp_path)
    experiment = EXPERIMENT_FILES[family]
    sets = [*TINY, *OWN.get(family, ()), f"name=every-{family}", f"train.output_dir={tmp_path}"]
    if family == "fast_nst":  # the one method whose weights the test makes (no stand-in)
        from tests.support.asset_server import stylization_saved_model

        sets.append(f"model.handle={stylization_saved_model(tmp_path / 'stylization')}")
    config: ExperimentConfig = load_config(experiment, sets)
    if config.model.trainable:
        sets += TRAINED
    overrides = [arg for key in sets for arg in ("--set", key)]
    sketches, references = sketches_and_references(tmp_path)
    with_reference = ["--reference", str(references)] if config.model.needs_reference else []

    # Its weights and its evaluation on the test split.
    if config.model.trainable:
        code, out, err = ganime(capsys, "train", str(experiment), *overrides, "--no-progress")
        assert code == 0, err[-2000:]
        trained = json.loads(out.strip().splitlines()[-1])
        run_id, checkpoint = trained["mlflow_run_id"], trained["checkpoint"]
        assert checkpoint.endswith("epoch-0001")
        evaluated = colorized = ["--checkpoint", checkpoint]
    else:
        evaluated = [str(experiment), *overrides]
    code, out, err = ganime(capsys, "evaluate", *evaluated, "--no-progress")
    assert code == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["split"] == "test"
    fid = next(key for key in summary if key.startswith("test_fid_untrained_inception"))
    assert np.isfinite(summary[fid])
    if config.model.trainable:  # its training run logged its best generator
        logged = f"runs:/{run_id}/best_generator"
    else:  # measured, it is logged: its run and its model
        assert summary["method"] == family
        run_id = summary["mlflow_run_id"]
        logged = f"runs:/{run_id}/colorizer"
        colorized = ["--model", logged]

    # `ganime colorize`: each sketch at its own size.
    code, out, err = ganime(
        capsys, "colorize", str(sketches), "-o", "out", *colorized, *with_reference,
        "--no-progress",
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["written"] == 3
    colours = [np.asarray(Image.open(tmp_path / "out" / f"s{i}.png")) for i in range(3)]
    assert {colour.shape for colour in colours} == {(40, 48, 3)}

    # The logged MLflow model's pyfunc `predict`: the colours `colorize` wrote; a method that
    # needs a reference refuses a frame without one, in one line.
    model = mlflow.pyfunc.load_model(logged)
    inner = model.unwrap_python_model()
    assert inner.config.model.family == family
    assert inner.colorizer.needs_reference == config.model.needs_reference
    images = [np.asarray(Image.open(sketches / f"s{i}.png").convert("RGB")) for i in range(3)]
    refs = None
    if config.model.needs_reference:
        refs = [np.asarray(Image.open(references / f"s{i}.jpg").convert("RGB")) for i in range(3)]
    predicted = model.predict(sketch_frame(images, refs))[IMAGE_COLUMN]
    if config.model.needs_reference:
        with pytest.raises(GanimeError, match=f"^{family} colorizes a sketch after a reference"):
            model.predict(sketch_frame(images))
    for colour, expected in zip(predicted, colours, strict=True):
        assert colour.shape == expected.shape
        assert np.abs(colour.astype(int) - expected.astype(int)).max() <= 1

    # `ganime promote --run`: registered as ganime-<family>, the first champion.
    code, out, err = ganime(capsys, "promote", "--run", run_id)
    assert code == 0, err[-2000:]
    assert f"register ganime-{family} v1" in out
    version = MlflowClient(mlflow_store).get_model_version_by_alias(f"ganime-{family}", "champion")
    assert version.run_id == run_id
