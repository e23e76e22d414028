"""Fixtures for the latency tests: a real OpenSSH server on loopback, and tiny .tflite models."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
FIXTURES = Path(__file__).with_name("fixtures")


@dataclass(frozen=True)
class Sshd:
    """Where the test server listens and the client key it accepts."""

    host: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    log: Path
    folder: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port} within {timeout_s} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """A real ``sshd -D`` on 127.0.0.1:<free port> accepting one generated client key (torn down after)."""
    if not SSHD.exists():
        pytest.skip(f"{SSHD} is absent: install openssh-server (apt-get install -y openssh-server) to run SSH tests")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("the OpenSSH client (ssh, ssh-keygen) is absent: install openssh-client")
    folder = tmp_path_factory.mktemp("sshd")
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {folder / 'host_key'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                f"PidFile {folder / 'sshd.pid'}",
                "UsePAM no",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:  # root sshd insists on its privilege-separation folder
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = folder / "sshd.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-e"], stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, port, log)
        yield Sshd("127.0.0.1", port, getpass.getuser(), folder / "client_key", folder / "known_hosts", log, folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _convert(model, shape: tuple[int, ...], path: Path) -> Path:
    import litert_torch
    import torch

    torch.manual_seed(0)
    litert_torch.convert(model.eval(), (torch.randn(*shape),)).export(str(path))
    return path


@pytest.fixture(scope="session")
def tflite_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny conv models as .tflite: ``tiny`` (16x16, 8 ch), ``small`` (32x32, 16 ch), ``big`` (~60x small)."""
    import torch
    from torch import nn

    folder = tmp_path_factory.mktemp("tflite")
    torch.manual_seed(0)
    tiny = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    small = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    big = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 16, 3, padding=1),
    )
    return {
        "tiny": _convert(tiny, (1, 3, 16, 16), folder / "tiny.tflite"),
        "small": _convert(small, (1, 3, 32, 32), folder / "small.tflite"),
        "big": _convert(big, (1, 3, 32, 32), folder / "big.tflite"),
    }
