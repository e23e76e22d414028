"""User-facing errors: raised for bad input, printed by the CLI without a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class EdgepruneError(Exception):
    """An error caused by the user's input (spec, file, config field), with a clear message."""


class SpecError(EdgepruneError):
    """A model or data spec string could not be resolved."""


class ConfigError(EdgepruneError):
    """A target or config file has a missing or invalid field."""


class ParityError(EdgepruneError):
    """An exported artifact does not compute what the torch model computes."""


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s code; a user error prints one line and exits 2 (for scripts under benchmarks/)."""
    try:
        code = main()
    except EdgepruneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)
