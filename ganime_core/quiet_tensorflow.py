"""TensorFlow's C++ start-up lines at the level the user asked for (TF_CPP_MIN_LOG_LEVEL).

TensorFlow 2.20 logs through absl before anything initializes absl's logging, and absl then
writes every message to stderr whatever TF_CPP_MIN_LOG_LEVEL says ("WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR"): `import tensorflow` prints
its oneDNN, CUDA-stub and CPU-feature INFO lines twice, and the first device query on a machine
without a GPU driver prints `E0000 ... failed call to cuInit`, which reads like a failure.

`quiet_first_import()` wraps the process's first `import tensorflow`: the import and the first
device query (where cuInit runs) write to a temporary file instead of stderr, and the lines are
replayed filtered by the level (default 1: warnings and errors; 0 shows everything). On a
machine TensorFlow found no CUDA driver on, the cuInit error is an expected consequence, shown
at level 0 only. Later messages are TensorFlow's own business, filtered by the same variable.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = "1"  # INFO hidden; warnings and errors shown
# absl's line prefix: severity, MMDD, time, thread id, file:line]
_PREFIX = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_NO_DRIVER = "Could not find cuda drivers on your machine"
_CUINIT = "failed call to cuInit"


def level() -> int:
    """The user's TF_CPP_MIN_LOG_LEVEL (0 all ... 3 fatal only), else the default."""
    value = os.environ.get(LEVEL_ENV, DEFAULT_LEVEL)
    return int(value) if value.isdigit() else int(DEFAULT_LEVEL)


def shown(lines: Sequence[str], minimum: int) -> list[str]:
    """The start-up lines a user at level `minimum` sees. A line without absl's prefix continues
    the message before it (a multi-line message) and goes with it."""
    if minimum <= 0:
        return list(lines)
    no_driver = any(_NO_DRIVER in line for line in lines)
    kept, keep = [], True
    for line in lines:
        if line.startswith(_ABSL_NOTICE):
            keep = False  # absl's notice about itself, not TensorFlow's
            continue
        prefix = _PREFIX.match(line)
        if prefix:
            severity = _SEVERITY[prefix.group(1)]
            if no_driver and _CUINIT in line:
                severity = _SEVERITY["I"]  # no driver, so no GPU: expected, not an error
            keep = severity >= minimum
        if keep:
            kept.append(line)
    return kept


@contextlib.contextmanager
def _stderr_captured(lines: list[str]) -> Iterator[None]:
    """File descriptor 2 (what C++ writes to) sent to a temporary file; its lines into `lines`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode(errors="replace").splitlines())


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        lines: list[str] = []
        failed = True
        try:
            with _stderr_captured(lines):
                self.loader.exec_module(module)
                module.config.list_physical_devices()  # cuInit, once per process
            failed = False
        finally:  # a failed import shows everything it printed
            replay = shown(lines, 0 if failed else level())
            if replay:
                print("\n".join(replay), file=sys.stderr, flush=True)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # the real finders find it; this runs once
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_first_import() -> None:
    """Quiet the first `import tensorflow` of this process, if it has not happened yet, and set
    the C++ log level's default (a level the user set is kept)."""
    os.environ.setdefault(LEVEL_ENV, DEFAULT_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
