"""Data-parallel training on a real local Ray cluster (2 CPUs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganime_core.checkpoint import open_checkpoint
from ganime_core.families import build_family
from ganime_core.train import train
from orchestration.distributed import Scaling, train_on_ray

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_two_workers_reach_the_weights_of_one_worker_with_the_global_batch(
    local_ray, smoke_config, tmp_path
) -> None:
    """The proof that data parallelism is right: 2 workers x batch 4 == 1 worker x batch 8 on
    the same examples, with dropout off, deterministic ops and synchronized batch norm."""
    overrides = (
        "data.synthetic.count=40",  # 32 train images: 4 steps of 8
        "model.base_filters=8",
        "model.dropout=0",
        "model.sync_batch_norm=true",
        "train.deterministic=true",
        "train.epochs=1",
    )
    single = train(smoke_config(*overrides, f"train.output_dir={tmp_path / 'one'}"), progress=False)
    config = smoke_config(*overrides, f"train.output_dir={tmp_path / 'two'}")
    result = train_on_ray(config, Scaling(workers=2))
    assert result.error is None
    assert result.metrics["epoch"] == 1

    with result.checkpoint.as_directory() as directory:
        _, parallel, epochs = open_checkpoint(Path(directory))
    _, reference, _ = open_checkpoint(single.run_dir)
    initial = build_family(config)  # the same seeded start both runs had
    assert epochs == 1
    moved = []
    for a, b, start in zip(
        parallel.generator.weights,
        reference.generator.weights,
        initial.generator.weights,
        strict=True,
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
        moved.append(np.abs(b.numpy() - start.numpy()).max())
    # Adam moves every trained weight by about lr per step: 4 steps of 2e-4 are far above atol.
    assert np.median(moved) > 1e-4


def test_ganime_train_with_workers_runs_on_ray_and_resumes_its_checkpoint(
    local_ray, tmp_path, cache_dir, capsys
) -> None:
    """`--workers` is the single-machine command with one more flag; run again with more epochs,
    the job resumes from the checkpoint Ray persisted instead of starting over."""
    from orchestration.cli import main
    from tests.conftest import SMOKE

    common = [
        "train",
        str(SMOKE),
        "--workers",
        "2",
        "--set",
        f"train.output_dir={tmp_path / 'runs'}",
        "--set",
        "data.synthetic.count=40",
        "--set",
        "model.base_filters=8",
    ]
    assert main([*common, "--set", "train.epochs=1"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["epochs_completed"] == 1 and first["checkpoint"].endswith("epoch-0001")

    assert main([*common, "--set", "train.epochs=2"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["epochs_completed"] == 2 and second["checkpoint"].endswith("epoch-0002")
    assert second["metrics"]["resumed_from"] == 1  # epoch 1 was not trained again
    assert "gen_l1" in second["metrics"] and second["metrics"]["images_per_second"] > 0
