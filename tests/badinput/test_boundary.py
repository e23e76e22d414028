"""The one error boundary (commands/main.py) itself: how each failure family ends, whatever command raised it.

The command's ``run`` is replaced by one that raises, so each family is reached exactly (a real bad input for each
family is in the other files of this folder)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from hardening_support import error_line, run_main


def _raising(monkeypatch, exc: BaseException) -> None:
    import edgeprune.commands.analyze as analyze

    def run(args):
        raise exc

    monkeypatch.setattr(analyze, "run", run)


def test_a_multi_line_message_still_prints_one_line(monkeypatch, capsys) -> None:
    _raising(monkeypatch, EdgepruneError("artifact m.tflite: runner said\nTraceback (most recent call last):\n  x"))
    result = run_main(capsys, "analyze", "--model", "edgeprune:default")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    line = result.err.strip()
    assert line.startswith("edgeprune analyze: error: artifact m.tflite: runner said | Traceback")


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/out/w.safetensors"),
            "writing /data/out/w.safetensors",
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/etc/x"), "permission denied: /etc/x"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "in.npz"), "in.npz"),
    ],
)
def test_os_errors_are_one_line_naming_the_file(monkeypatch, capsys, exc: OSError, words: str) -> None:
    _raising(monkeypatch, exc)
    error_line(run_main(capsys, "analyze", "--model", "edgeprune:default"), 2, words)


def test_an_internal_error_says_so_and_logs_the_traceback(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    _raising(monkeypatch, ZeroDivisionError("division by zero in a bug"))
    result = run_main(capsys, "analyze", "--model", "edgeprune:default")
    assert result.code == 3 and "Traceback" not in result.err
    (line,) = result.err.strip().splitlines()
    assert line.startswith("edgeprune analyze: internal error (ZeroDivisionError: division by zero in a bug)")
    (log,) = (tmp_path / "cache" / "logs").glob("*.log")
    assert str(log) in line
    assert "Traceback (most recent call last)" in log.read_text() and "ZeroDivisionError" in log.read_text()


def test_debug_shows_the_traceback_instead(monkeypatch, capsys) -> None:
    from edgeprune.commands.main import main

    _raising(monkeypatch, EdgepruneError("bad thing"))
    with pytest.raises(EdgepruneError, match="bad thing"):
        main(["analyze", "--model", "edgeprune:default", "--debug"])


@pytest.mark.parametrize(("exc", "code", "word"), [(KeyboardInterrupt(), 130, "interrupted")])
def test_interrupt_exit_code(monkeypatch, capsys, exc, code: int, word: str) -> None:
    _raising(monkeypatch, exc)
    result = run_main(capsys, "analyze", "--model", "edgeprune:default")
    assert result.code == code and result.err.strip() == f"edgeprune analyze: {word}"


def test_sigterm_handler_is_restored_after_the_command(monkeypatch, capsys) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    _raising(monkeypatch, EdgepruneError("x"))
    run_main(capsys, "analyze", "--model", "edgeprune:default")
    assert signal.getsignal(signal.SIGTERM) is before
