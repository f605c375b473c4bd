"""What a training process sets up before TensorFlow runs: thread pools and GPU memory growth."""

from __future__ import annotations

import pytest
import tensorflow as tf

from ganime_core import train
from ganime_core.data import pipeline
from ganime_core.train import configure_process


def test_every_visible_gpu_grows_its_memory_and_the_pools_fit_the_cpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No GPU here: TensorFlow's device list is replaced by two, as Ray shows a trial given GPUs
    (CUDA_VISIBLE_DEVICES), and each must get memory growth rather than be taken whole."""
    gpus = ["GPU:0", "GPU:1"]
    grown, pools = [], {}
    monkeypatch.setattr(
        tf.config, "list_physical_devices", lambda kind: gpus if kind == "GPU" else []
    )
    monkeypatch.setattr(
        tf.config.experimental, "set_memory_growth", lambda gpu, on: grown.append((gpu, on))
    )
    monkeypatch.setattr(
        tf.config.threading, "set_intra_op_parallelism_threads", lambda n: pools.update(intra=n)
    )
    monkeypatch.setattr(
        tf.config.threading, "set_inter_op_parallelism_threads", lambda n: pools.update(inter=n)
    )
    threads = []
    monkeypatch.setattr(pipeline, "set_input_threads", threads.append)
    monkeypatch.setattr(train, "set_input_threads", threads.append)
    configure_process(1)
    assert grown == [("GPU:0", True), ("GPU:1", True)]
    assert pools == {"intra": 1, "inter": 2}  # a GAN step runs two networks' ops side by side
    assert threads == [1]  # the input pipeline's decoding and augmentation too


def test_the_input_pipeline_uses_the_threads_it_is_given(smoke_config, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "_input_threads", None)
    data = pipeline.TrainingData(smoke_config())
    default = data.train_dataset(0).options().threading.private_threadpool_size
    pipeline.set_input_threads(3)
    for dataset in (data.train_dataset(0), data.eval_dataset("test")):
        assert dataset.options().threading.private_threadpool_size == 3
    assert default in (None, 0)  # tf.data's own: every core of the machine
