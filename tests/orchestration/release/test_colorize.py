"""`ganime colorize` and the image edge it stands on: sketches of odd sizes in, PNGs at the same
sizes out, with a checkpoint or an MLflow model; corrupt files are reported and skipped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganime_core.inference import UnreadableImageError, read_image


def test_read_image_takes_bytes_paths_and_arrays_as_rgb(tmp_path: Path) -> None:
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0] = 200
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    assert read_image(buffer.getvalue()).shape == (5, 7, 3)
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((4, 6), 9, np.uint8)).save(path)
    np.testing.assert_array_equal(read_image(path), np.full((4, 6, 3), 9, np.uint8))
    assert read_image(np.full((3, 2), 7.0).tolist()).dtype == np.uint8
    for bad in (b"not an image", tmp_path / "missing.png", np.zeros((4, 4, 2)), [[300.0]]):
        with pytest.raises(UnreadableImageError):
            read_image(bad)


@pytest.fixture
def sketches(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of sketches of odd sizes, one nested and one corrupt, and a lone file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "sketches"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)).save(folder / "odd.png")
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / "wide.jpg")
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / "nested/g.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "notes.txt").write_text("not a sketch: not an input either")
    lone = tmp_path / "lone.png"
    Image.fromarray(rng.integers(0, 256, (17, 90, 3), dtype=np.uint8)).save(lone)
    return folder, lone


@pytest.fixture
def checkpoint(smoke_config, tmp_path: Path) -> Path:
    import keras

    from ganime_core.checkpoint import Checkpointer
    from ganime_core.families import build_family

    config = smoke_config()
    keras.utils.set_random_seed(0)
    family = build_family(config)
    return Checkpointer(config.run_dir / "checkpoints", family, config, keep=1).save(1)


@pytest.mark.slow
def test_colorize_writes_each_sketch_at_its_size_and_reports_the_corrupt_one(
    sketches, checkpoint, tmp_path, capsys
) -> None:
    from orchestration.cli import main

    folder, lone = sketches
    out = tmp_path / "out"
    args = ["colorize", str(folder), str(lone), "-o", str(out), "--checkpoint", str(checkpoint)]
    assert main([*args, "--batch-size", "2", "--no-progress"]) == 1  # one file was skipped
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["written"] == 4
    assert [entry["file"] for entry in summary["skipped"]] == [str(folder / "corrupt.png")]
    assert f"skipped {folder / 'corrupt.png'}" in captured.err
    sizes = {p.relative_to(out).as_posix(): Image.open(p).size for p in out.rglob("*.png")}
    assert sizes == {
        "odd.png": (23, 37),
        "wide.png": (64, 48),
        "nested/g.png": (32, 32),
        "lone.png": (90, 17),
    }

    (folder / "corrupt.png").unlink()
    sheet = tmp_path / "side-by-side.png"
    assert main([*args, "--no-progress", "--sheet", str(sheet)]) == 0
    assert json.loads(capsys.readouterr().out)["sheet"] == str(sheet)
    # One row per sketch, 128 px high with 4 px between: sketch | colorization side by side.
    rows = 4
    width, height = Image.open(sheet).size
    assert height == rows * 128 + (rows - 1) * 4
    widest = round(90 * 128 / 17)  # the 90x17 lone sketch, scaled to the row height
    assert width == widest + 4 + widest  # its row: sketch | colour
    # Nothing to colorize is one line, before any model is loaded (there is no checkpoint "x").
    assert main(["colorize", str(tmp_path / "nothing"), "-o", str(out), "--checkpoint", "x"]) == 2
    assert "no sketches found" in capsys.readouterr().err


@pytest.mark.slow
def test_colorize_with_an_mlflow_model_matches_the_checkpoint(
    sketches, checkpoint, tmp_path, monkeypatch, capsys
) -> None:
    import mlflow

    from ganime_core.checkpoint import open_checkpoint
    from orchestration.cli import main
    from orchestration.tracking.model import log_generator_model

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow.get_tracking_uri())
    config, family, _ = open_checkpoint(checkpoint)
    client = mlflow.tracking.MlflowClient(mlflow.get_tracking_uri())
    run_id = client.create_run("0").info.run_id  # in the Default experiment
    example = np.zeros((32, 32, 3), np.uint8)
    info = log_generator_model(client, run_id, family.generator, config, "g", (example, None))

    _, lone = sketches
    for source, out in (("--model", "by-model"), ("--checkpoint", "by-checkpoint")):
        where = f"models:/{info.model_id}" if source == "--model" else str(checkpoint)
        args = ["colorize", str(lone), "-o", str(tmp_path / out), source, where, "--no-progress"]
        assert main(args) == 0
    by_model = np.asarray(Image.open(tmp_path / "by-model/lone.png"))
    by_checkpoint = np.asarray(Image.open(tmp_path / "by-checkpoint/lone.png"))
    assert by_model.shape == (17, 90, 3)
    assert np.abs(by_model.astype(int) - by_checkpoint.astype(int)).max() <= 1


def test_synth_sketches_only_writes_the_sketch_halves(tmp_path: Path, capsys) -> None:
    from ganime_core.data.synth import render_character
    from orchestration.cli import main

    assert main(["data", "synth", "--sketches-only", "--out", str(tmp_path / "s"), "--count", "2",
                 "--size", "64", "--seed", "3"]) == 0  # fmt: skip
    files = sorted((tmp_path / "s").glob("*.png"))
    assert [f.name for f in files] == ["sketch-00000.png", "sketch-00001.png"]
    _, expected = render_character(np.random.default_rng([3, 1]), 64)
    np.testing.assert_array_equal(np.asarray(Image.open(files[1])), expected)


@pytest.mark.slow
def test_colorize_shows_a_progress_bar_over_the_files(sketches, checkpoint, tmp_path, capsys):
    from orchestration.cli import main

    folder, lone = sketches
    args = ["colorize", str(lone), str(folder), "-o", str(tmp_path / "o")]
    assert main([*args, "--checkpoint", str(checkpoint), "--batch-size", "2"]) == 1
    err = capsys.readouterr().err
    assert "colorizing: 100%" in err and "5/5" in err  # 4 sketches and the corrupt file


def test_a_reference_is_one_file_for_every_sketch_or_paired_by_name_in_a_folder(
    tmp_path: Path,
) -> None:
    from orchestration.release.colorize import find_reference

    one = tmp_path / "style.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(one)
    assert find_reference(one, Path("a/s1.png")) == one
    folder = tmp_path / "refs"
    (folder / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "a" / "s1.jpg")
    assert find_reference(folder, Path("a/s1.png")) == folder / "a" / "s1.jpg"  # any suffix
    with pytest.raises(UnreadableImageError, match="no reference named a/s2"):
        find_reference(folder, Path("a/s2.png"))
