"""A Style2paints whose hint is the reference's annotated palette (model.hint
annotated_palette), through the public commands: `ganime train` logs its model with the data
set's palettes.json beside the generator; `ganime evaluate --checkpoint` measures how it
follows same-palette references (part ΔE, swap); `ganime colorize` with the logged model
colours test sketches after their references as the checkpoint does, and refuses a reference
from outside the data set in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.commands import ganime
from tests.support.paths import STYLE2PAINTS_SMOKE

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]

SETS = (
    "model.hint=annotated_palette",
    "model.training_reference=same_palette",
    "data.synthetic.palette=free",
    "data.synthetic.count=20",  # 16 train images (2 of them the selection split), 4 test
    "data.selection=2",
    "data.jitter=false",
    "train.sample_images=2",
    "train.epochs=1",
    "train.eval_every=1",
    "metrics.reference=same_palette",
    "metrics.swap=true",
    "metrics.kid_subset_size=4",
    "metrics.kid_subsets=2",
)


def test_an_annotated_palette_model_trains_evaluates_and_colorizes_after_its_references(
    tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from ganime_core.config import load_config
    from ganime_core.data.pipeline import data_root

    monkeypatch.chdir(tmp_path)
    sets = [*SETS, f"train.output_dir={tmp_path}", "name=palette"]
    overrides = [arg for key in sets for arg in ("--set", key)]
    code, out, err = ganime(capsys, "train", str(STYLE2PAINTS_SMOKE), *overrides, "--no-progress")
    assert code == 0, err[-2000:]
    trained = json.loads(out.strip().splitlines()[-1])
    root = data_root(load_config(STYLE2PAINTS_SMOKE, sets).data)

    # The logged model carries the palettes it reads.
    client = MlflowClient(mlflow_store)
    files = {a.path for a in client.list_artifacts(trained["mlflow_run_id"], "best_generator")}
    logged = mlflow.artifacts.download_artifacts(
        f"runs:/{trained['mlflow_run_id']}/best_generator", dst_path=str(tmp_path / "model")
    )
    assert any(path.endswith("artifacts") for path in files)
    (palettes,) = Path(logged).rglob("palettes.json")
    assert palettes.read_bytes() == (root / "palettes.json").read_bytes()

    # Measured after same-palette references, with the swap.
    checkpoint = ["--checkpoint", trained["checkpoint"]]
    code, out, err = ganime(capsys, "evaluate", *checkpoint, "--no-progress")
    assert code == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["reference"] == "same_palette" and summary["n"] == 4
    assert 0 < summary["test_part_delta_e"] < 100 and np.isfinite(summary["test_swap"])

    # The test sketches (the val pairs' right halves) and their same-palette references.
    sketches, references = tmp_path / "sketches", tmp_path / "references"
    for folder in (sketches, references):
        folder.mkdir()
    for pair in sorted((root / "val").glob("*.png")):
        image = np.asarray(Image.open(pair).convert("RGB"))
        Image.fromarray(image[:, image.shape[1] // 2 :]).save(sketches / pair.name)
        (references / pair.name).write_bytes((root / "references" / "val" / pair.name).read_bytes())
    outputs = {}
    for source in (checkpoint, ["--model", f"runs:/{trained['mlflow_run_id']}/best_generator"]):
        folder = tmp_path / f"out-{source[0].strip('-')}"
        code, out, err = ganime(
            capsys, "colorize", str(sketches), "-o", str(folder), *source,
            "--reference", str(references), "--no-progress",
        )  # fmt: skip
        assert code == 0, err[-2000:]
        outputs[source[0]] = [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]
    assert len(outputs["--model"]) == 4
    for by_model, by_checkpoint in zip(outputs["--model"], outputs["--checkpoint"], strict=True):
        assert np.abs(by_model.astype(int) - by_checkpoint.astype(int)).max() <= 1

    # A reference the data set does not annotate: one line naming why.
    for path in references.iterdir():
        Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path)
    code, out, err = ganime(
        capsys, "colorize", str(sketches), "-o", str(tmp_path / "grey"), "--model",
        f"runs:/{trained['mlflow_run_id']}/best_generator", "--reference", str(references),
        "--no-progress",
    )  # fmt: skip
    assert code != 0
    last = err.strip().splitlines()[-1]
    assert "shows no palette of this data set" in last and "Traceback" not in err
