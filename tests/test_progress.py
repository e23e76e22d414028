"""Progress bars: drawn on a terminal (a real pseudo-terminal here), nested bars share one display, bars keep
drawing while a converter is silenced, and nothing is drawn with EDGEPRUNE_NO_PROGRESS, in CI, or off a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

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
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "EDGEPRUNE_NO_PROGRESS", "EDGEPRUNE_VERBOSE")}
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


@pytest.mark.parametrize("switch", [{"EDGEPRUNE_NO_PROGRESS": "1"}, {"CI": "true"}])
def test_no_bars_when_switched_off(switch: dict[str, str]) -> None:
    code, text = _in_pty(_env(**switch))
    assert code == 0 and "after the bars" in text
    assert "outer-step" not in text and "inner-calibration" not in text


def test_no_bars_off_a_terminal() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=_env(), check=True)
    assert "outer-step" not in proc.stderr + proc.stdout and proc.stdout.strip() == "after the bars"
