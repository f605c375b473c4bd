"""Errors a user can cause. The CLI prints their message as one line, never a traceback."""


class GanimeError(Exception):
    """Base class: the message names the cause and the fix."""


class ConfigError(GanimeError):
    """The experiment file or a --set override is invalid."""


class DataError(GanimeError):
    """The data folder is missing, empty, or holds no usable image."""


class CheckpointError(GanimeError):
    """A checkpoint cannot be used for this run."""


class MetricsError(GanimeError):
    """The metrics cannot be measured as configured (e.g. no InceptionV3 weights)."""


def last_line(text: str) -> str:
    """The last non-empty line of an error's text: where a traceback names its exception."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def exception_message(text: str) -> str:
    """The last line without the exception's name it starts with, if it does:
    'pkg.TrialFailed: loss became nan' -> 'loss became nan'."""
    line = last_line(text)
    head, sep, message = line.partition(": ")
    is_exception_name = sep and head.replace(".", "").replace("_", "").isalnum()
    return message if is_exception_name and head[-1:].isalpha() and " " not in head else line
