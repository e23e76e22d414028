"""Local harness: every measurement runs in a fresh subprocess, optionally pinned to CPU cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError

RUNNER = Path(__file__).with_name("runner_script.py")


@dataclass(frozen=True)
class Protocol:
    """What one measurement does: runtime, threads, warm-up and run counts, cores to pin.

    ``runtime`` "" runs each artifact on the runtime its file suffix names (formats mixed in one process)."""

    runtime: str = "litert"
    threads: int = 1
    warmup: int = 20
    runs: int = 200
    min_seconds: float = 0.0
    cores: tuple[int, ...] = ()
    xnnpack: bool = True

    def __post_init__(self) -> None:
        counts = {"threads": (self.threads, 1), "warmup": (self.warmup, 0), "runs": (self.runs, 1)}
        for name, (value, low) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise EdgepruneError(f"bench protocol: {name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.min_seconds, (int, float)) or not 0 <= self.min_seconds <= 3600:
            raise EdgepruneError(f"bench protocol: min_seconds must be in [0, 3600], got {self.min_seconds!r}")
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.cores):
            raise EdgepruneError(f"bench protocol: cores must be CPU numbers >= 0, got {self.cores!r}")

    def runner_args(self) -> list[str]:
        args = (["--runtime", self.runtime] if self.runtime else []) + ["--threads", str(self.threads)]
        args += ["--warmup", str(self.warmup)]
        args += ["--runs", str(self.runs), "--min-seconds", str(self.min_seconds)]
        return args + ([] if self.xnnpack else ["--no-xnnpack"])


def _pin(cores: tuple[int, ...]) -> None:
    if cores:
        os.sched_setaffinity(0, set(cores))


TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier every .tflite model carries at bytes 4-8


def check_artifact(path: str | Path) -> None:
    """Refuse a missing, empty or obviously foreign artifact before a runner loads it, naming the file."""
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"artifact {path} does not exist")
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise EdgepruneError(f"artifact {path} is empty")
    if path.suffix == ".tflite" and head[4:8] != TFLITE_IDENTIFIER:
        raise EdgepruneError(f"artifact {path} is not a TFLite model (no 'TFL3' flatbuffer identifier)")


def runner_failure(stderr: str, returncode: int) -> str:
    """The one line of a failed runner worth showing: the exception it ended with, or the signal it died of."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if returncode < 0:
        return f"the runner died of signal {-returncode}" + (f" ({lines[-1][:300]})" if lines else "")
    return lines[-1][:500] if lines else f"exit code {returncode} and no message"


def _run_runner(paths: list[str | Path], protocol: Protocol, timeout_s: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(RUNNER)]
    for p in paths:
        cmd += ["--artifact", str(p)]
    cmd += protocol.runner_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(protocol.threads), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        preexec_fn=(lambda: _pin(protocol.cores)) if protocol.cores else None,
        check=False,
    )


def _culprit(paths: list[str | Path], protocol: Protocol, timeout_s: float) -> tuple[str | Path, str] | None:
    """The first artifact the runner cannot run on its own, with the reason (None: each runs alone)."""
    quick = Protocol(protocol.runtime, protocol.threads, 0, 1, 0.0, protocol.cores, protocol.xnnpack)
    for path in paths:
        proc = _run_runner([path], quick, timeout_s)
        if proc.returncode != 0:
            return path, runner_failure(proc.stderr, proc.returncode)
    return None


def measure_local(paths: list[str | Path], protocol: Protocol, timeout_s: float = 900.0) -> dict:
    """Measure ``paths`` (interleaved) in a fresh Python subprocess; return the runner's JSON."""
    for path in paths:
        check_artifact(path)
    proc = _run_runner(paths, protocol, timeout_s)
    if proc.returncode != 0:
        reason = runner_failure(proc.stderr, proc.returncode)
        found = _culprit(paths, protocol, timeout_s) if len(paths) > 1 else (paths[0], reason)
        if found is None:
            raise EdgepruneError(f"latency runner failed on {[str(p) for p in paths]}: {reason}")
        raise EdgepruneError(f"artifact {found[0]}: the {protocol.runtime} runtime cannot run it ({found[1]})")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise EdgepruneError(f"latency runner printed no result on {[str(p) for p in paths]}: {proc.stdout[-300:]!r}")
    return json.loads(lines[-1])
