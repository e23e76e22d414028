"""Progress for anything longer than a few seconds, on stderr: rich bars on a terminal, plain lines in a log.

- stderr is a terminal (and ``CI`` is not set): a bar with a spinner, elapsed time and ETA.
- stderr is not a terminal, or ``CI`` is set (a log file, a pipe, a CI job): one plain line when a step ends, with
  its elapsed time (``[edgeprune] sensitivity: 38/38 done in 12.3 s``; none for steps under
  :data:`SILENT_BELOW_S`), and one every :data:`LINE_EVERY_S` seconds while a long step runs, so a log shows what is
  happening.
- ``EDGEPRUNE_NO_PROGRESS`` set: no bars and no progress lines; notes (per-epoch lines) are still printed.
- ``EDGEPRUNE_QUIET`` set (``--quiet`` sets it and the one above): nothing at all, not even per-epoch lines.

A bar opened while another is shown becomes one more line of the same display (export -> calibration), never a
second display fighting for the terminal. Bars and lines write to a duplicate of stderr taken when the outermost
step opens, so they keep going while :func:`edgeprune.logs.quiet` silences a converter's own output on file
descriptors 1 and 2.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LINE_EVERY_S = 30.0  # plain-line mode: a line at least this often while a step runs
SILENT_BELOW_S = 1.0  # plain-line mode: steps shorter than this end without a line


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
        """Print one line above the bar (or to stderr without a bar; nothing under ``--quiet``)."""
        if self._progress is not None:
            self._progress.console.print(text)
        elif not quiet():
            print(text, file=sys.stderr, flush=True)


class _Lines(_Bar):
    """Plain-text progress for logs: a line at least every :data:`LINE_EVERY_S` seconds while the step runs (from
    a heartbeat thread, so a step that advances rarely, such as a conversion, still shows), one when done."""

    def __init__(self, stream: Any, description: str, total: int) -> None:
        super().__init__(None, None, description)
        self._stream, self._total, self._done = stream, max(total, 1), 0
        self._start = self._last = time.perf_counter()

    def _line(self, text: str) -> None:
        with _WRITE:
            self._last = time.perf_counter()
            if not self._stream.closed:  # the heartbeat may wake just after the outermost step closed it
                self._stream.write(f"[edgeprune] {self._description}: {text}\n")
                self._stream.flush()

    def heartbeat(self, now: float) -> None:
        """A progress line if none was written for :data:`LINE_EVERY_S` seconds and the step is not finished."""
        if now - self._last >= LINE_EVERY_S and self._done < self._total:
            self._line(f"{self._done}/{self._total} ({self._done / self._total:.0%}) after {now - self._start:.1f} s")

    def advance(self, n: int = 1, **fields: float) -> None:
        self._done += n
        self.heartbeat(time.perf_counter())

    def note(self, text: str) -> None:
        with _WRITE:
            self._stream.write(f"{text}\n")
            self._stream.flush()

    def close(self) -> None:
        elapsed = time.perf_counter() - self._start
        if elapsed >= SILENT_BELOW_S:  # a log does not need a line for every sub-second step
            self._line(f"{min(self._done, self._total)}/{self._total} done in {elapsed:.1f} s")


_ACTIVE: list[Any] = []  # the one rich Progress on screen (outermost bar), if any
_STREAMS: list[Any] = []  # plain-line mode: the stderr duplicate of the outermost step
_OPEN: list[_Lines] = []  # plain-line mode: the steps running, outermost first
_WRITE = threading.Lock()


def quiet() -> bool:
    """``--quiet``: results and errors only."""
    return bool(os.environ.get("EDGEPRUNE_QUIET"))


def mode() -> str:
    """``"bars"`` (an interactive terminal, not CI), ``"lines"`` (a log, a pipe or CI) or ``"off"``
    (``EDGEPRUNE_NO_PROGRESS`` or ``--quiet``)."""
    if os.environ.get("EDGEPRUNE_NO_PROGRESS") or quiet():
        return "off"
    return "bars" if sys.stderr.isatty() and not os.environ.get("CI") else "lines"


def bars_enabled() -> bool:
    """Bars only on an interactive terminal and never in CI or with EDGEPRUNE_NO_PROGRESS."""
    return mode() == "bars"


def _beat(stop: threading.Event) -> None:
    """Until ``stop``: the innermost running step writes a line when it has been silent for LINE_EVERY_S."""
    while not stop.wait(min(1.0, max(0.05, LINE_EVERY_S))):
        if _OPEN:
            _OPEN[-1].heartbeat(time.perf_counter())


@contextmanager
def _lines(description: str, total: int) -> Iterator[_Bar]:
    outermost = not _STREAMS
    stop = threading.Event()
    if outermost:
        try:
            _STREAMS.append(os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1))
        except (OSError, ValueError, io.UnsupportedOperation):  # stderr replaced by an object without a descriptor
            _STREAMS.append(sys.stderr)
        threading.Thread(target=_beat, args=(stop,), name="edgeprune-progress", daemon=True).start()
    bar = _Lines(_STREAMS[-1], description, total)
    _OPEN.append(bar)
    try:
        yield bar
        _OPEN.pop()
        bar.close()
    finally:
        if _OPEN and _OPEN[-1] is bar:
            _OPEN.pop()
        if outermost:
            stop.set()
            stream = _STREAMS.pop()
            if stream is not sys.stderr:
                with _WRITE:
                    stream.close()


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

    Nested inside another bar it is an extra line of that bar's display, removed when it closes. Off a terminal it
    is plain lines (see the module docstring); with progress off, nothing."""
    current = mode()
    if current == "lines":
        with _lines(description, total) as bar:
            yield bar
        return
    if current == "off":
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
