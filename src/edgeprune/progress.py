"""Progress bars (rich) for anything longer than a few seconds; silent when not on a terminal or in CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _Bar:
    def __init__(self, progress: object | None, task: object | None, description: str) -> None:
        self._progress, self._task, self._description = progress, task, description

    def advance(self, n: int = 1, **fields: float) -> None:
        if self._progress is None:
            return
        suffix = " ".join(f"{k} {v:.4g}" for k, v in fields.items())
        self._progress.update(self._task, advance=n, description=f"{self._description} {suffix}".strip())  # type: ignore[attr-defined]

    def note(self, text: str) -> None:
        """Print one line above the bar (or to stderr without a bar)."""
        if self._progress is not None:
            self._progress.console.print(text)  # type: ignore[attr-defined]
        else:
            print(text, file=sys.stderr)


def bars_enabled() -> bool:
    """Bars only on an interactive terminal and never in CI."""
    return sys.stderr.isatty() and not os.environ.get("CI") and not os.environ.get("EDGEPRUNE_NO_PROGRESS")


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[_Bar]:
    """A rich progress bar with ETA; a no-op stand-in when bars are disabled."""
    if not bars_enabled():
        yield _Bar(None, None, description)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield _Bar(progress, task, description)
