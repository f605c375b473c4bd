"""Style2paints from a sweep to a colorized sketch: a sweep over its loss weights on local Ray,
`ganime promote --sweep` behind the held-out gate, and `ganime colorize --model
models:/ganime-style2paints@champion --reference` (a call without a reference is refused as
NST's is: tests/core/test_style2paints.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from orchestration.cli import main
from orchestration.sweep.driver import run_sweep
from orchestration.sweep.spec import load_sweep
from tests.support.commands import sketches_and_references
from tests.support.paths import STYLE2PAINTS_SMOKE
from tests.support.ray_cluster import local_ray_cluster

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache_dir")]
from mlflow.tracking import MlflowClient  # noqa: E402


def test_a_style2paints_sweep_is_promoted_and_colorizes_after_a_reference(
    tmp_path, mlflow_store, capsys, monkeypatch
) -> None:
    sweep = tmp_path / "s2p.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "s2p",
                "experiment": str(STYLE2PAINTS_SMOKE),
                "overrides": {
                    "data.synthetic.count": 20,  # 16 train images: 4 steps of 4
                    "train.eval_every": 1,
                    "train.sample_images": 2,
                },
                "search": {
                    "model.alpha": {"uniform": [0.0, 0.6]},
                    "model.discriminator": {"choice": ["acgan", "dcgan"]},
                },
                # One trial: what is Style2paints' own here is its model through promote and
                # colorize; both discriminators train in tests/core/test_style2paints.py, and
                # a trial logs two 550 MB models (the frozen VGG19 rides along).
                "start_with": [{"model.alpha": 0.3, "model.discriminator": "acgan"}],
                "num_samples": 1,
                "metric": "fid",
                "max_epochs": 1,
                "asha": {"grace_period": 1, "reduction_factor": 2},
                "max_concurrent_trials": 1,
            }
        )
    )
    with local_ray_cluster():
        outcome = run_sweep(load_sweep(sweep), storage=str(tmp_path / "ray"), progress=False)
    assert [row.stop_reason for row in outcome.trials] == ["completed"]

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["promote", "--sweep", "s2p"]) == 0
    assert "register ganime-style2paints v1" in capsys.readouterr().out
    client = MlflowClient(mlflow_store)
    version = client.get_model_version_by_alias("ganime-style2paints", "champion")
    run = client.get_run(version.run_id)
    # Both reference policies were measured, under their own names.
    # Stand-ins InceptionV3 and VGG19 (the hint's): SSIM carries the VGG19 mark too
    assert {
        "selection_fid_untrained_inception_vgg19",
        "selection_gt_ref_fid_untrained_inception_vgg19",
        "selection_ssim_untrained_vgg19",
        "selection_gt_ref_ssim_untrained_vgg19",
    } <= set(run.data.metrics)

    sketches, references = sketches_and_references(tmp_path)
    model = "models:/ganime-style2paints@champion"
    code = main(
        ["colorize", str(sketches), "-o", "out", "--model", model,
         "--reference", str(references), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["written"] == 3
    out = np.asarray(Image.open(tmp_path / "out" / "s0.png"))
    assert out.shape == (40, 48, 3)  # the sketch's own size
