"""Progress: bars drawn on a terminal (a real pseudo-terminal here), nested bars share one display, bars keep
drawing while a converter is silenced; plain lines with elapsed time off a terminal and in CI (a log shows
progress); no progress with EDGEPRUNE_NO_PROGRESS, and not even notes under --quiet (EDGEPRUNE_QUIET)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from edgeprune.logs import quiet
    from edgeprune.progress import progress_bar

    with progress_bar("outer-step", total=2) as outer:
        outer.status("converting")
        with quiet():
            print("converter noise", flush=True)
            os.write(2, b"converter noise on fd 2\\n")
            time.sleep(1.0)  # the bar keeps refreshing from its own thread meanwhile
        outer.advance()
        with progress_bar("inner-calibration", total=3) as inner:
            for _ in range(3):
                time.sleep(0.4)
                inner.advance()
        outer.advance()
    print("after the bars", flush=True)
    """
)


def _in_pty(env: dict[str, str]) -> tuple[int, str]:
    """Run SCRIPT with stdin/stdout/stderr on a pseudo-terminal; return its exit code and everything it drew."""
    captured = bytearray()

    def read(fd: int) -> bytes:
        data = os.read(fd, 65536)
        captured.extend(data)
        return data

    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(sys.executable, [sys.executable, "-c", SCRIPT], env)
    while True:
        try:
            if not read(fd):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), captured.decode(errors="replace")


def _env(**changes: str) -> dict[str, str]:
    switches = ("CI", "EDGEPRUNE_NO_PROGRESS", "EDGEPRUNE_QUIET", "EDGEPRUNE_VERBOSE")
    env = {k: v for k, v in os.environ.items() if k not in switches}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env.update(changes)
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_nested_bars_on_a_terminal() -> None:
    code, text = _in_pty(_env())
    assert code == 0, text
    assert "outer-step: converting" in text and "inner-calibration" in text and "2/2" in text
    assert "converter noise" not in text  # quiet() still silences the converter
    assert text.index("after the bars") > text.rindex("outer-step")


def test_nothing_with_progress_off() -> None:
    code, text = _in_pty(_env(EDGEPRUNE_NO_PROGRESS="1"))
    assert code == 0 and "after the bars" in text
    assert "outer-step" not in text and "inner-calibration" not in text


LINE = r"\[edgeprune\] {step}: {done} done in \d+\.\d s"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_ci_gets_plain_lines_not_bars() -> None:
    code, text = _in_pty(_env(CI="true"))
    assert code == 0 and "after the bars" in text
    assert re.search(LINE.format(step="inner-calibration", done="3/3"), text), text
    assert re.search(LINE.format(step="outer-step", done="2/2"), text), text
    assert "\x1b[" not in text and "converter noise" not in text  # no bar drawing, the converter still silenced


def test_plain_lines_off_a_terminal() -> None:
    """A log (stderr not a terminal) shows one line per step with its elapsed time; stdout keeps only results."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=_env(), check=True)
    assert proc.stdout.strip() == "after the bars"
    lines = proc.stderr.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["[edgeprune] inner-calibration", "[edgeprune] outer-step"], lines
    assert re.fullmatch(LINE.format(step="outer-step", done="2/2"), lines[-1]), lines


def test_long_steps_report_while_running(capfd, monkeypatch) -> None:
    """A step silent for LINE_EVERY_S says how far it got before it ends, even when it does not advance (a
    conversion), so a multi-minute step is visible in a log."""
    from edgeprune import progress

    monkeypatch.delenv("EDGEPRUNE_NO_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.2)
    monkeypatch.setattr(progress, "SILENT_BELOW_S", 0.0)
    with progress.progress_bar("scan", total=4) as bar:
        bar.advance()
        time.sleep(0.8)  # no advance meanwhile: the heartbeat speaks
        bar.note("epoch 1/2 select top1 90.00%")
        bar.advance()
    err = capfd.readouterr().err.splitlines()
    assert re.fullmatch(r"\[edgeprune\] scan: 1/4 \(25%\) after 0\.\d s", err[0]), err
    assert "epoch 1/2 select top1 90.00%" in err and re.fullmatch(LINE.format(step="scan", done="2/4"), err[-1]), err


def test_quiet_drops_notes(capfd, monkeypatch) -> None:
    from edgeprune import progress

    monkeypatch.setenv("EDGEPRUNE_QUIET", "1")
    with progress.progress_bar("fine-tune", total=1) as bar:
        bar.note("epoch 1/1 select top1 90.00%")
    assert capfd.readouterr().err == ""
