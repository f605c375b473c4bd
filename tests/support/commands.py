"""The `ganime` command run in the test's own process, and inputs for `ganime colorize`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from orchestration.cli import main


def ganime(capsys, *args: str) -> tuple[int, str, str]:
    """`ganime ARGS` in this process (the command's own code path, without a fresh
    interpreter's TensorFlow import): exit code, stdout, stderr."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sketches_and_references(tmp_path: Path) -> tuple[Path, Path]:
    """Three sketches and, in another folder under the same names, their colour images."""
    rng = np.random.default_rng(0)
    sketches, references = tmp_path / "sketches", tmp_path / "references"
    for folder in (sketches, references):
        folder.mkdir()
    for i in range(3):
        line = np.full((40, 48, 3), 255, np.uint8)
        line[10 + i * 5, :] = 0
        Image.fromarray(line).save(sketches / f"s{i}.png")
        colour = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(colour).save(references / f"s{i}.jpg")
    return sketches, references
