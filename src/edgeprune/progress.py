"""Progress bars (rich) for anything longer than a few seconds; silent when not on a terminal, in CI, or with
``EDGEPRUNE_NO_PROGRESS`` set (``--quiet`` sets it).

A bar opened while another is shown becomes one more line of the same display (export -> calibration), never a
second display fighting for the terminal. Bars draw on a duplicate of the terminal's stderr taken when the
outermost bar opens, so they keep moving (spinner, elapsed time) while :func:`edgeprune.logs.quiet` silences a
converter's own output on file descriptors 1 and 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Bar:
    def __init__(self, progress: Any | None, task: Any | None, description: str) -> None:
        self._progress, self._task, self._description = progress, task, description

    def advance(self, n: int = 1, **fields: float) -> None:
        if self._progress is None:
            return
        suffix = " ".join(f"{k} {v:.4g}" for k, v in fields.items())
        self._progress.update(self._task, advance=n, description=f"{self._description} {suffix}".strip())

    def status(self, text: str) -> None:
        """Say what the current step is doing (``export pruned_fp32.tflite: converting``) without advancing."""
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self._description}: {text}")

    def note(self, text: str) -> None:
        """Print one line above the bar (or to stderr without a bar)."""
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(text, file=sys.stderr)


_ACTIVE: list[Any] = []  # the one rich Progress on screen (outermost bar), if any


def bars_enabled() -> bool:
    """Bars only on an interactive terminal and never in CI or with EDGEPRUNE_NO_PROGRESS."""
    return sys.stderr.isatty() and not os.environ.get("CI") and not os.environ.get("EDGEPRUNE_NO_PROGRESS")


def _columns() -> tuple[Any, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[_Bar]:
    """A rich progress bar with a spinner, elapsed time and ETA; a no-op stand-in when bars are disabled.

    Nested inside another bar it is an extra line of that bar's display, removed when it closes."""
    if not bars_enabled():
        yield _Bar(None, None, description)
        return
    if _ACTIVE:
        progress = _ACTIVE[-1]
        task = progress.add_task(description, total=max(total, 1))
        try:
            yield _Bar(progress, task, description)
        finally:
            progress.remove_task(task)
        return
    from rich.console import Console
    from rich.progress import Progress

    stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
    try:
        console = Console(file=stream, force_terminal=True)
        with Progress(*_columns(), console=console, transient=False) as progress:
            _ACTIVE.append(progress)
            try:
                task = progress.add_task(description, total=max(total, 1))
                yield _Bar(progress, task, description)
            finally:
                _ACTIVE.pop()
    finally:
        stream.close()
