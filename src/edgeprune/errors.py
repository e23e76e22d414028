"""User-facing errors: raised for bad input, printed by the CLI without a traceback."""

from __future__ import annotations


class EdgepruneError(Exception):
    """An error caused by the user's input (spec, file, config field), with a clear message."""


class SpecError(EdgepruneError):
    """A model or data spec string could not be resolved."""


class ConfigError(EdgepruneError):
    """A target or config file has a missing or invalid field."""


class ParityError(EdgepruneError):
    """An exported artifact does not compute what the torch model computes."""
