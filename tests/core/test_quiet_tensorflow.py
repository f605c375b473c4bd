"""TensorFlow's C++ start-up lines at the user's TF_CPP_MIN_LOG_LEVEL (absl ignores it before
its logging is initialized, so GANime filters the first import's lines itself)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ganime_core.quiet_tensorflow import shown
from tests.support.paths import REPO

# What `import tensorflow` and the first device query print on a CPU machine (TF 2.20).
START_UP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796610166.688854   27777 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796610166.689191   27777 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796610166.745682   27777 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.",
    "W0000 00:00:1796610169.944583   27777 some_op.cc:12] a real warning",
    "E0000 00:00:1796610173.383598   27777 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]


def test_by_default_only_warnings_and_errors_show_and_no_driver_means_no_cuinit_error() -> None:
    assert shown(START_UP, 1) == [START_UP[5]]  # the INFO message's second line goes with it


def test_a_user_level_is_kept_and_level_0_shows_everything() -> None:
    assert shown(START_UP, 0) == START_UP
    assert shown(START_UP, 2) == []
    with_driver = [line for line in START_UP if "cudart_stub" not in line]
    assert shown(with_driver, 2) == [START_UP[-1]]  # a GPU machine's cuInit failure is an error


def test_lines_that_are_not_tensorflows_are_kept() -> None:
    assert shown(["a Python warning, printed first", *START_UP[1:3]], 1) == [
        "a Python warning, printed first"
    ]


@pytest.mark.slow  # two processes importing TensorFlow
@pytest.mark.parametrize("level", [None, "0"])
def test_a_ganime_command_prints_tensorflows_start_up_lines_only_when_asked(level) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "describe", "experiments/smoke.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if level is None:
        assert done.stderr == ""
    else:
        assert "cpu_feature_guard" in done.stderr or "cuda" in done.stderr
