"""Fresh interpreters for what must start anew: two logical CPUs, the `ganime` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

TWO_LOGICAL_CPUS = """
import tensorflow as tf

# Two replicas on one machine: the CPU split into two logical devices, which TensorFlow allows
# only before it starts (hence a fresh process).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
"""


def run_on_two_cpus(script: str, *args: str, folder: Path) -> str:
    """Run `script` (Python source) in a fresh interpreter whose CPU is two logical devices, for
    a tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]); its stdout, or AssertionError with
    its stderr's end."""
    path = folder / "on_two_cpus.py"
    path.write_text(TWO_LOGICAL_CPUS + script)
    done = subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def ganime_command() -> list[str]:
    """The installed console script's interpreter and module, for subprocess tests."""
    return [sys.executable, "-m", "orchestration.cli"]
