"""TensorFlow Lite Micro as a child process: run an int8 ``.tflite`` on TFLM's interpreter, read its arena.

TFLM's Python interpreter (``tflite_micro.python.tflite_micro.runtime``) uses the reference kernels a
microcontroller build without vendor kernels runs, and its ``RecordingMicroAllocator`` prints from C what the
arena holds (``Arena allocation total N bytes``, head: the planned activation buffers, tail: persistent data).
The child (:mod:`edgeprune.embedded.tflm_child`) runs the samples and prints that report; a model TFLM refuses
fails at prepare with the operator and the check that failed, which become one line here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError

TIMEOUT_S = 1800
CHILD = Path(__file__).with_name("tflm_child.py")  # run by path: it imports nothing from edgeprune
_ARENA = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_NODE = re.compile(r"Node (\w+) \(number (\d+)\) failed to (\w+)")
_CHECK = re.compile(r"^(\S+\.(?:cc|h|c):\d+) (.+?)\.?$")


class TflmRefusal(EdgepruneError):
    """TFLM cannot prepare or run the model: the message names the operator and TFLM's reason."""


@dataclass(frozen=True)
class TflmRun:
    """Raw outputs of every sample and the arena TFLM's recording allocator reported."""

    outputs: np.ndarray
    arena_bytes: int
    arena_head_bytes: int
    arena_tail_bytes: int


def tflm_version() -> str:
    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return "missing"


def refusal(model: Path, log: str) -> TflmRefusal:
    """One line from TFLM's log: ``OP (number N) failed to prepare: <check> (<source:line>)``."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    node = next((m for m in map(_NODE.search, lines) if m), None)
    checks = [m for m in map(_CHECK.match, lines) if m]
    if node is None:
        last = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "no output")
        return TflmRefusal(f"TFLM cannot run {model.name}: {last[:300]}")
    reason = f": {checks[-1].group(2)} ({checks[-1].group(1)})" if checks else ""
    op, number, stage = node.groups()
    return TflmRefusal(f"TFLM refuses {model.name}: {op} (number {number}) failed to {stage}{reason}")


def run_tflm(model: str | Path, inputs: np.ndarray, arena_bytes: int = 4 << 20) -> TflmRun:
    """Run every sample of ``inputs`` (already in the model's input dtype and layout, batch first) through TFLM
    in a child process; raises :class:`TflmRefusal` naming the operator when TFLM cannot prepare or run it."""
    model = Path(model)
    with tempfile.TemporaryDirectory(prefix="edgeprune-tflm-") as tmp:
        x_path, y_path = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(x_path, np.ascontiguousarray(inputs), allow_pickle=False)
        cmd = [sys.executable, str(CHILD), str(model), str(x_path), str(y_path)]
        try:
            done = subprocess.run([*cmd, str(arena_bytes)], capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TflmRefusal(f"TFLM did not finish {model.name} within {TIMEOUT_S} s") from None
        log = done.stdout + "\n" + done.stderr
        if done.returncode != 0 or not y_path.is_file():
            raise refusal(model, log)
        outputs = np.load(y_path, allow_pickle=False)
    arena = {kind: int(n) for kind, n in _ARENA.findall(log)}
    if "total" not in arena:
        raise EdgepruneError(f"TFLM ran {model.name} but printed no arena report")
    return TflmRun(outputs, arena["total"], arena.get("head", 0), arena.get("tail", 0))
