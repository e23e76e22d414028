"""Remote commands are quoted end to end: hostile values in every target field reach the board as literals.

A real OpenSSH server on 127.0.0.1 plays the board (the ``sshd`` fixture of tests/bench/conftest.py). Each field
carries shell syntax that would create a marker file if any layer (our command string, ssh's argv, the board's
shell) interpreted it; the measurement must still succeed with the literal names, and no marker may appear.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from edgeprune.bench.harness import Protocol
from edgeprune.bench.remote import RemoteError, SshRunner
from hardening_support import error_line, run_main

TOKEN = f"EPMARK{os.getpid()}"
# no "/" (it is used in file names too); a shell interpreting it creates TOKEN1..6 in its working directory
HOSTILE = f"a b;touch {TOKEN}1 $(touch {TOKEN}2) `touch {TOKEN}3` && touch {TOKEN}4 | touch {TOKEN}5 'q\" >{TOKEN}6 #"


def _markers(*roots: Path) -> list[str]:
    """Marker files anywhere a shell could have been: the given folders, the board's home, this process's cwd."""
    found = []
    for root in {*roots, Path.home(), Path.cwd()}:
        found += [str(p) for p in root.glob(f"**/{TOKEN}*" if root not in (Path.home(), Path.cwd()) else f"{TOKEN}*")]
    return sorted(found)


def test_hostile_values_in_every_field_reach_the_board_as_literals(sshd, tiny_tflite, tmp_path: Path) -> None:
    # remote_python: a python whose *file name* is the hostile string: it runs only if the name stays literal
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / f"py {HOSTILE}"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    # remote_workdir: a folder whose name is the hostile string
    workdir = tmp_path / "board" / HOSTILE
    # artifact names with spaces, quotes and semicolons
    artifact = tmp_path / "art" / f"{HOSTILE}.tflite"
    artifact.parent.mkdir()
    artifact.write_bytes(tiny_tflite.read_bytes())
    # known_hosts in a folder with a space (ssh's -o value)
    known = tmp_path / "known hosts dir" / "known_hosts"
    runner = SshRunner(
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        key_file=sshd.key_file,
        python=str(python),
        workdir=str(workdir),
        known_hosts=known,
    )
    protocol = Protocol(runtime="litert", threads=1, warmup=1, runs=5, cores=(0,))
    (result,) = runner.measure_many([artifact, tiny_tflite], protocol, 1)
    first, second = result["results"]
    assert first["path"] == str(artifact) and first["latency_ms"]["count"] == 5
    assert first["remote_path"].startswith(str(workdir) + "/run.")  # the literal folder name on the board
    assert first["remote_path"].endswith("_" + artifact.name)
    assert second["size_bytes"] == tiny_tflite.stat().st_size
    assert result["remote"]["python"] == str(python)
    assert workdir.is_dir() and list(workdir.iterdir()) == []  # staged under the literal name, then removed
    assert known.is_file()  # the host key was pinned where asked, space and all
    assert _markers(tmp_path) == [], "a field was interpreted by a shell"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "-oProxyCommand=touch {m}", "is not a host name"),
        ("host", "board;touch {m}", "is not a host name"),
        ("user", "-oProxyCommand=touch {m}", "is not a user name"),
        ("python", "python3\ntouch {m}", "without control characters"),
        ("workdir", "/tmp/x\ntouch {m}", "without control characters"),
        ("workdir", "relative/dir", "absolute path"),
    ],
)
def test_fields_that_ssh_or_a_shell_could_read_as_options_or_lines_are_refused(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    base = {"host": "127.0.0.1", "user": "me", "python": "python3", "workdir": "/tmp/edgeprune"}
    base[field] = value.format(m=TOKEN)
    with pytest.raises(RemoteError, match=message):
        SshRunner(**base)
    assert _markers(tmp_path) == []


def test_option_injection_through_the_remote_spec_never_runs(tmp_path: Path, capsys) -> None:
    """``--remote "-oProxyCommand=..."`` (or ``[bench] remote``) is refused before ssh runs: one line, no marker."""
    artifact = tmp_path / "m.tflite"
    artifact.write_bytes(b"\0\0\0\0TFL3" + bytes(64))
    hostile = f"-oProxyCommand=touch {tmp_path / TOKEN}"
    args = ["bench", "--target", "tflite", "--artifact", artifact, "--reference", artifact, "--out", tmp_path / "b"]
    error_line(run_main(capsys, *args, "--remote", hostile), 2, "remote host", "-oProxyCommand")
    assert _markers(tmp_path) == []


@pytest.mark.parametrize("cores", ['["0; touch {m}"]', '[0, "$(touch {m})"]', "[-1]", '"0-3"'])
def test_bench_cores_elements_are_type_checked_before_any_work(tmp_path: Path, capsys, cores: str) -> None:
    target = tmp_path / "board.toml"
    target.write_text(
        'name = "board"\n[export]\nformat = "tflite"\n[bench]\nremote = "pi@127.0.0.1"\n'
        f"cores = {cores.format(m=TOKEN)}\n"
    )
    artifact = tmp_path / "m.tflite"
    artifact.write_bytes(b"\0\0\0\0TFL3" + bytes(64))
    args = ["bench", "--target", target, "--artifact", artifact, "--reference", artifact, "--out", tmp_path / "b"]
    error_line(run_main(capsys, *args), 2, str(target), "bench.cores")
    assert _markers(tmp_path) == []


def test_protocol_refuses_non_integer_cores_and_counts() -> None:
    """Whatever builds a Protocol (not only a target file), its numbers reach argv as numbers."""
    from edgeprune.errors import EdgepruneError

    for bad in ({"cores": ("0;id",)}, {"cores": (-1,)}, {"threads": "1"}, {"runs": 0}, {"warmup": -1}):
        with pytest.raises(EdgepruneError, match="bench protocol"):
            Protocol(**bad)  # type: ignore[arg-type]


def test_ssh_argv_ends_options_before_the_destination() -> None:
    cmd = SshRunner(host="board", user="pi", known_hosts=os.devnull).ssh_command("true")
    assert cmd[-3:] == ["--", "pi@board", "true"]


def test_hostile_target_fields_through_the_bench_command(sshd, tiny_tflite, tmp_path: Path, capsys) -> None:
    """The same literals end to end from a target file's [bench] section and the CLI: remote_key, remote_python,
    remote_workdir and cores from the TOML, artifact names from --artifact, the known_hosts path from the flag."""
    import json

    key = tmp_path / "keys" / f"key {HOSTILE}"
    key.parent.mkdir()
    key.write_bytes(sshd.key_file.read_bytes())
    key.chmod(0o600)
    python = tmp_path / "bin" / f"py {HOSTILE}"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    workdir = tmp_path / "board" / HOSTILE
    artifact = tmp_path / "art" / f"{HOSTILE}.tflite"
    artifact.parent.mkdir()
    artifact.write_bytes(tiny_tflite.read_bytes())
    target = tmp_path / "board.toml"
    target.write_text(
        'name = "board"\n[export]\nformat = "tflite"\n[bench]\nthreads = 1\nwarmup = 1\nruns = 3\ncores = [0]\n'
        f"remote = {json.dumps(f'{sshd.user}@{sshd.host}:{sshd.port}')}\nremote_key = {json.dumps(str(key))}\n"
        f"remote_python = {json.dumps(str(python))}\nremote_workdir = {json.dumps(str(workdir))}\n"
    )
    out = tmp_path / "out"
    args = ["bench", "--target", target, "--artifact", f"m={artifact}", "--reference", tiny_tflite, "--repeats", "1"]
    result = run_main(capsys, *args, "--known-hosts", tmp_path / "known hosts" / "kh", "--out", out)
    assert result.code == 0, result.err[-2000:]
    record = json.loads((out / "board.json").read_text())
    assert record["models"]["m"]["path"] == str(artifact)
    assert record["remote"]["python"] == str(python) and record["protocol"]["cores"] == [0]
    assert workdir.is_dir() and list(workdir.iterdir()) == []
    assert (tmp_path / "known hosts" / "kh").is_file()
    assert _markers(tmp_path) == [], "a field was interpreted by a shell"
