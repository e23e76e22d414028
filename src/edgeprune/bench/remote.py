"""Remote latency runner: the harness protocol on a Linux board (Raspberry Pi, Jetson) over SSH.

It drives the system OpenSSH client (``ssh``) through subprocess rather than paramiko: it honours the
user's ``~/.ssh/config`` (ProxyJump, agents, aliases), needs nothing installed on the host beyond what a
developer already has, and behaves exactly as ``ssh`` does by hand, which makes failures easy to reproduce.
Files travel as ``ssh host 'cat > file'`` streams instead of ``scp``: recent ``scp`` needs the board's
SFTP subsystem, which minimal images (dropbear, stripped Yocto) often lack, while ``cat`` is everywhere.
Host keys are pinned on first use (``StrictHostKeyChecking=accept-new``) in a private known_hosts file,
and ``BatchMode=yes`` makes a missing key fail instead of prompting.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgeprune.bench.harness import RUNNER, Protocol, check_artifact, runner_failure
from edgeprune.errors import EdgepruneError

DEFAULT_KNOWN_HOSTS = Path.home() / ".cache" / "edgeprune" / "known_hosts"

_PROBE = """
import importlib.util as u, json, sys
mods = {m: u.find_spec(m) is not None for m in %r}
print(json.dumps({"python": sys.version.split()[0], "modules": mods}))
"""


class RemoteError(EdgepruneError):
    """The remote board could not run the measurement."""


class RemoteUnreachableError(RemoteError):
    """The SSH connection could not be opened (host down, wrong port, DNS, timeout)."""


class RemoteAuthError(RemoteError):
    """The board refused the key, or its host key changed."""


class RemoteRuntimeError(RemoteError):
    """The board lacks python, numpy or the runtime the protocol needs."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"[A-Za-z0-9_.:%\[\]-]+")  # names, IPv4, IPv6 (with zone); no spaces, quotes or shell syntax


def _check_field(value: str, name: str) -> None:
    if not value or _CONTROL.search(value):
        raise RemoteError(f"{name} {value!r} must be one non-empty line without control characters")


_UNREACHABLE = (
    "connection refused",
    "no route to host",
    "could not resolve",
    "timed out",
    "network is unreachable",
    "connection closed",
    "connection reset",
    "name or service not known",
)


@dataclass(frozen=True)
class SshRunner:
    """Copy artifacts and the runner script to ``user@host:port``, run the protocol there, clean up."""

    host: str
    port: int = 22
    user: str | None = None
    key_file: str | Path | None = None
    python: str = "python3"
    workdir: str = "/tmp/edgeprune"
    known_hosts: str | Path = DEFAULT_KNOWN_HOSTS
    connect_timeout_s: int = 10
    ssh: str = "ssh"
    extra_options: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        """Every field reaches ssh's argv or the board's shell: refuse what could be read as an option or a line."""
        if not _HOST.fullmatch(self.host) or self.host.startswith("-"):
            raise RemoteError(f"remote host {self.host!r} is not a host name or address")
        if self.user is not None and (not self.user or self.user.startswith("-") or not _HOST.fullmatch(self.user)):
            raise RemoteError(f"remote user {self.user!r} is not a user name")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise RemoteError(f"remote port {self.port!r} must be in 1..65535")
        _check_field(self.python, "remote python")
        _check_field(self.workdir, "remote workdir")
        if not self.workdir.startswith("/"):
            raise RemoteError(f"remote workdir {self.workdir!r} must be an absolute path on the board")

    @classmethod
    def from_spec(cls, spec: str, **kwargs: object) -> SshRunner:
        """Build from ``[user@]host[:port]``."""
        m = re.fullmatch(r"(?:([^@]+)@)?([^:@]+)(?::(\d+))?", spec.strip())
        if not m:
            raise RemoteError(f"remote spec {spec!r} is not [user@]host[:port]")
        user, host, port = m.groups()
        return cls(host=host, port=int(port) if port else 22, user=user, **kwargs)  # type: ignore[arg-type]

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def ssh_command(self, remote_command: str) -> list[str]:
        """The full ``ssh`` argv that runs ``remote_command`` (one shell string) on the board."""
        known = Path(self.known_hosts)
        if '"' in str(known) or _CONTROL.search(str(known)):
            raise RemoteError(f"known_hosts path {str(known)!r} must not contain double quotes or control characters")
        known.parent.mkdir(parents=True, exist_ok=True)
        opts = [
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f'UserKnownHostsFile="{known}"',  # quoted: ssh splits -o values on spaces
            "-o", f"ConnectTimeout={self.connect_timeout_s}",
            "-o", "LogLevel=ERROR",
            "-p", str(self.port),
        ]  # fmt: skip
        if self.key_file:
            opts += ["-i", str(self.key_file), "-o", "IdentitiesOnly=yes"]
        return [self.ssh, *opts, *self.extra_options, "--", self.destination, remote_command]

    def _run(self, remote_command: str, what: str, stdin: bytes | None = None, timeout_s: float = 120.0) -> str:
        cmd = self.ssh_command(remote_command)
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s, check=False)
        except FileNotFoundError:
            raise RemoteError(f"SSH client {self.ssh!r} not found; install OpenSSH (openssh-client)") from None
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{what} on {self.destination}:{self.port} timed out after {timeout_s:g} s") from None
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 255:  # ssh's own failure, not the remote command's
            self._raise_ssh_failure(err)
        if proc.returncode != 0:
            if proc.returncode == 127:
                raise RemoteRuntimeError(
                    f"{what} on {self.destination}: command not found ({runner_failure(err, 127)})"
                )
            raise RemoteError(f"{what} on {self.destination} failed: {runner_failure(err, proc.returncode)}")
        return out

    def _raise_ssh_failure(self, err: str) -> None:
        where = f"{self.destination}:{self.port}"
        low = err.lower()
        err = runner_failure(err, 255)  # ssh's last line says it (the host-key banner above it is many lines)
        if "permission denied" in low or "too many authentication failures" in low:
            key = f" with key {self.key_file}" if self.key_file else ""
            raise RemoteAuthError(f"SSH authentication to {where} failed{key}: {err}")
        if "host identification has changed" in low or "host key verification failed" in low:
            raise RemoteAuthError(f"host key of {where} does not match {self.known_hosts}: {err}")
        if any(s in low for s in _UNREACHABLE):
            raise RemoteUnreachableError(f"cannot reach {where}: {err}")
        raise RemoteError(f"ssh to {where} failed: {err}")

    def probe(self, runtime: str) -> dict:
        """Check python, numpy and ``runtime`` on the board; return what was found."""
        from edgeprune.formats import format_for_runtime

        needed = format_for_runtime(runtime).runtime_modules
        code = _PROBE % (("numpy", *needed),)
        out = self._run(f"{shlex.quote(self.python)} -c {shlex.quote(code)}", f"python probe ({self.python})")
        try:
            found = json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise RemoteRuntimeError(
                f"{self.python} on {self.destination} gave no probe result: {out[-300:]!r}"
            ) from None
        missing = [m for m in ("numpy",) if not found["modules"][m]]
        if not any(found["modules"][m] for m in needed):
            missing.append(" or ".join(needed))
        if missing:
            raise RemoteRuntimeError(
                f"{self.python} (Python {found['python']}) on {self.destination} lacks {', '.join(missing)}; "
                f"install it on the board (e.g. pip install {'ai-edge-litert' if runtime == 'litert' else runtime})"
            )
        return found

    def upload(self, local: str | Path, remote: str) -> None:
        """Stream one file to ``remote`` on the board."""
        data = Path(local).read_bytes()
        self._run(f"cat > {shlex.quote(remote)}", f"upload of {local}", stdin=data, timeout_s=600.0)

    @contextmanager
    def staged(self, paths: Sequence[str | Path]) -> Iterator[tuple[str, list[str]]]:
        """Upload the runner and ``paths`` into a fresh remote folder; yield (runner, remote paths); remove it."""
        for p in paths:
            check_artifact(p)
        base = shlex.quote(self.workdir.rstrip("/") or "/")
        out = self._run(f"mkdir -p {base} && mktemp -d {base}/run.XXXXXX", "creating the work folder")
        folder = (out.strip().splitlines() or [""])[-1]  # last line: login scripts may print before it
        if not folder.startswith("/"):
            raise RemoteError(f"mktemp on {self.destination} returned {folder!r}, not a folder")
        try:
            runner = f"{folder}/runner_script.py"
            self.upload(RUNNER, runner)
            remote = []
            for i, p in enumerate(paths):
                target = f"{folder}/{i}_{Path(p).name}"
                self.upload(p, target)
                remote.append(target)
            yield runner, remote
        finally:
            self._run(f"rm -rf {shlex.quote(folder)}", "cleanup")

    def _run_protocol(self, runner: str, remote: list[str], local: Sequence[str | Path], protocol: Protocol) -> dict:
        env = ["env", f"OMP_NUM_THREADS={protocol.threads}", "TF_CPP_MIN_LOG_LEVEL=2"]
        pin = ["taskset", "-c", ",".join(str(c) for c in protocol.cores)] if protocol.cores else []
        argv = [self.python, runner] + [a for r in remote for a in ("--artifact", r)] + protocol.runner_args()
        out = self._run(shlex.join(env + pin + argv), "latency runner", timeout_s=900.0)  # one quoted argv
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if not lines:
            raise RemoteError(f"latency runner on {self.destination} printed no result: {out[-300:]!r}")
        result = json.loads(lines[-1])
        for entry, path in zip(result["results"], local, strict=False):
            entry["remote_path"], entry["path"] = entry["path"], str(path)
        result["remote"] = {"host": self.host, "port": self.port, "user": self.user, "python": self.python}
        return result

    def measure_many(self, paths: Sequence[str | Path], protocol: Protocol, repeats: int = 1) -> list[dict]:
        """Upload once, run ``repeats`` fresh runner processes, clean up; one result dict per repeat."""
        self.probe(protocol.runtime)
        with self.staged(paths) as (runner, remote):
            return [self._run_protocol(runner, remote, paths, protocol) for _ in range(repeats)]

    def measure(self, paths: Sequence[str | Path], protocol: Protocol) -> dict:
        """Same as :func:`edgeprune.bench.harness.measure_local`, on the board."""
        return self.measure_many(paths, protocol, 1)[0]
