"""What a benchmark report records about the machine and the checkout. Imports no TensorFlow."""

from __future__ import annotations

import argparse
import os

from orchestration.tracking.runs import git_commit as full_commit


def git_commit() -> str:
    """Short HEAD of the checkout being measured, or 'unknown' (the tree may also hold edits)."""
    commit = full_commit()
    return commit if commit == "unknown" else commit[:7]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
