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
