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

    def runner_args(self) -> list[str]:
        args = (["--runtime", self.runtime] if self.runtime else []) + ["--threads", str(self.threads)]
        args += ["--warmup", str(self.warmup)]
        args += ["--runs", str(self.runs), "--min-seconds", str(self.min_seconds)]
        return args + ([] if self.xnnpack else ["--no-xnnpack"])


def _pin(cores: tuple[int, ...]) -> None:
    if cores:
        os.sched_setaffinity(0, set(cores))


def measure_local(paths: list[str | Path], protocol: Protocol, timeout_s: float = 900.0) -> dict:
    """Measure ``paths`` (interleaved) in a fresh Python subprocess; return the runner's JSON."""
    cmd = [sys.executable, str(RUNNER)]
    for p in paths:
        cmd += ["--artifact", str(p)]
    cmd += protocol.runner_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(protocol.threads), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        preexec_fn=(lambda: _pin(protocol.cores)) if protocol.cores else None,
        check=False,
    )
    if proc.returncode != 0:
        raise EdgepruneError(f"latency runner failed on {[str(p) for p in paths]}: {proc.stderr.strip()[-2000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise EdgepruneError(f"latency runner printed no result: {proc.stdout[-2000:]}")
    return json.loads(lines[-1])
