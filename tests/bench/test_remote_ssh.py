"""SshRunner against a real OpenSSH server on 127.0.0.1 (see the ``sshd`` fixture in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.bench.remote import (
    RemoteAuthError,
    RemoteRuntimeError,
    RemoteUnreachableError,
    SshRunner,
)


def _runner(sshd, **kwargs) -> SshRunner:
    base = dict(
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        key_file=sshd.key_file,
        python=sys.executable,
        workdir=str(sshd.folder / "board"),
        known_hosts=sshd.known_hosts,
    )
    return SshRunner(**{**base, **kwargs})


def test_remote_measure_matches_local_protocol(sshd, tflite_models) -> None:
    model = tflite_models["tiny"]
    protocol = Protocol(runtime="litert", threads=1, warmup=5, runs=50)
    remote = _runner(sshd).measure([model], protocol)
    local = measure_local([model], protocol)
    assert set(local) <= set(remote)
    (entry,) = remote["results"]
    assert entry["path"] == str(model)
    assert entry["size_bytes"] == model.stat().st_size
    assert entry["latency_ms"]["count"] == 50
    assert entry["latency_ms"]["p50"] > 0
    assert remote["runtime"] == "litert" and remote["threads"] == 1
    assert remote["remote"]["port"] == sshd.port
    assert str(sshd.folder / "board") in entry["remote_path"]
    # the host key was pinned in the private known_hosts file, and the board folder was cleaned up
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(sshd.known_hosts)], capture_output=True, text=True
    )
    host_key = (sshd.folder / "host_key.pub").read_text().split()[1]
    assert host_key in found.stdout
    assert list((sshd.folder / "board").iterdir()) == []


def test_remote_interleaves_several_artifacts_with_same_name(sshd, tflite_models, tmp_path) -> None:
    other = tmp_path / "sub" / tflite_models["tiny"].name
    other.parent.mkdir()
    other.write_bytes(tflite_models["small"].read_bytes())
    results = _runner(sshd).measure_many([tflite_models["tiny"], other], Protocol(warmup=2, runs=20), repeats=2)
    assert len(results) == 2
    for res in results:
        sizes = [e["size_bytes"] for e in res["results"]]
        assert sizes == [tflite_models["tiny"].stat().st_size, tflite_models["small"].stat().st_size]
        assert [e["latency_ms"]["count"] for e in res["results"]] == [20, 20]


def test_unreachable_port_is_a_clear_error(sshd, tflite_models) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteUnreachableError, match=rf"cannot reach .*127\.0\.0\.1:{port}.*refused"):
        _runner(sshd, port=port).measure([tflite_models["tiny"]], Protocol(runs=5))


def test_wrong_key_is_an_auth_error(sshd, tflite_models, tmp_path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(RemoteAuthError, match=r"authentication to .* failed with key .*stranger"):
        _runner(sshd, key_file=stranger).measure([tflite_models["tiny"]], Protocol(runs=5))


def test_missing_python_on_board(sshd, tflite_models) -> None:
    with pytest.raises(RemoteRuntimeError, match=r"/nonexistent/python3.*not found"):
        _runner(sshd, python="/nonexistent/python3").measure([tflite_models["tiny"]], Protocol(runs=5))


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a system python without the runtimes")
def test_missing_runtime_on_board_names_the_module(sshd, tflite_models) -> None:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import numpy"], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("/usr/bin/python3 has numpy here; cannot play a bare board")
    with pytest.raises(RemoteRuntimeError, match=r"lacks numpy, ai_edge_litert or tflite_runtime"):
        _runner(sshd, python="/usr/bin/python3").measure([tflite_models["tiny"]], Protocol(runs=5))
    assert not (sshd.folder / "board").exists() or list((sshd.folder / "board").iterdir()) == []


def test_from_spec_parses_user_host_port() -> None:
    r = SshRunner.from_spec("pi@raspberrypi.local:2222", python="python3.11")
    assert (r.user, r.host, r.port, r.python) == ("pi", "raspberrypi.local", 2222, "python3.11")
    assert SshRunner.from_spec("jetson").port == 22
    cmd = r.ssh_command("true")
    assert cmd[0] == "ssh" and cmd[-2:] == ["pi@raspberrypi.local", "true"]
    assert "BatchMode=yes" in cmd and "StrictHostKeyChecking=accept-new" in cmd
    assert cmd[cmd.index("-p") + 1] == "2222"
