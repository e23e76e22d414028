"""Where latency is measured: runtime, threads, pinned cores, local or a board over SSH; and its fingerprint.

Every measurement goes through the bench runner (``edgeprune.bench.harness.measure_local`` or
``edgeprune.bench.remote.SshRunner``): several files timed round-robin in one fresh process, repeated in fresh
processes, median of the per-process p50. The fingerprint (runtime, its version, threads, cores, machine) keys
the table cache: a table measured on another machine or runtime version is never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.bench.remote import SshRunner
from edgeprune.errors import EdgepruneError

FORMATS = {"litert": "tflite", "onnxruntime": "onnx"}  # runtime -> export format
PACKAGES = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime"}


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


@dataclass(frozen=True)
class LatencyTarget:
    """A runtime on a device, and how each measurement is taken there.

    ``runs``/``warmup`` are per runner process; ``repeats`` fresh processes give the median; ``batch`` files at
    most share one process (micro-models of similar size are batched together)."""

    runtime: str = "litert"
    threads: int = 1
    cores: tuple[int, ...] = ()
    precision: str = "fp32"
    xnnpack: bool = True  # LiteRT: the XNNPACK delegate (the default resolver) or the built-in kernels
    remote: SshRunner | None = None
    warmup: int = 5
    runs: int = 40
    min_seconds: float = 0.0
    repeats: int = 3
    batch: int = 40
    statistic: str = "p50"  # per-process statistic: "p50", or "min" (robust to preemption on a shared machine)
    across: str = "median"  # over processes: "median", or "min" (robust to a neighbour evicting the shared cache)
    runtime_version: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.runtime not in FORMATS:
            raise EdgepruneError(f"latency target runtime '{self.runtime}' is unknown (known: {sorted(FORMATS)})")
        if self.threads < 1 or self.repeats < 1 or self.runs < 1 or self.batch < 1:
            raise EdgepruneError("latency target: threads, runs, repeats and batch must be >= 1")
        if self.statistic not in ("p50", "min", "mean"):
            raise EdgepruneError(f"latency target statistic '{self.statistic}' is not one of p50, min, mean")
        if self.across not in ("median", "min"):
            raise EdgepruneError(f"latency target 'across' is '{self.across}', not one of median, min")
        if self.precision != "fp32" and self.runtime != "litert":
            raise EdgepruneError(f"latency target: precision {self.precision} needs runtime litert")

    @property
    def fmt(self) -> str:
        return FORMATS[self.runtime]

    def protocol(self, runs: int | None = None, min_seconds: float | None = None) -> Protocol:
        return Protocol(
            self.runtime,
            self.threads,
            self.warmup,
            runs or self.runs,
            self.min_seconds if min_seconds is None else min_seconds,
            self.cores,
            self.xnnpack,
        )

    def fingerprint(self) -> dict[str, Any]:
        """What a cached latency must match to be reused here."""
        if self.remote is not None:
            machine = f"ssh:{self.remote.destination}:{self.remote.port}:{self.remote.python}"
            version = self.runtime_version or "remote (version not reported)"
        else:
            machine = f"{platform.system()} {platform.machine()} {_cpu_name()} x{os.cpu_count()}"
            version = self.runtime_version or _installed(PACKAGES[self.runtime])
        return {
            "runtime": self.runtime,
            "version": version,
            "precision": self.precision,
            "xnnpack": self.xnnpack,
            "threads": self.threads,
            "cores": list(self.cores),
            "statistic": self.statistic,
            "across": self.across,
            "machine": machine,
        }

    def fingerprint_key(self) -> str:
        return hashlib.sha256(json.dumps(self.fingerprint(), sort_keys=True).encode()).hexdigest()[:16]

    def measure_runs(self, paths: Sequence[str | Path], runs: int | None = None) -> list[list[float]]:
        """Per repeat (fresh process), the statistic (p50) of every file, all timed round-robin in that process."""
        if not paths:
            return []
        protocol = self.protocol(runs)
        if self.remote is not None:
            results = self.remote.measure_many(list(paths), protocol, self.repeats)
        else:
            results = [measure_local(list(paths), protocol) for _ in range(self.repeats)]
        return [[float(r["latency_ms"][self.statistic]) for r in res["results"]] for res in results]

    def combine(self, values: Sequence[float]) -> float:
        """One latency from the per-process values: their median, or their minimum (``across="min"``)."""
        return min(values) if self.across == "min" else statistics.median(values)

    def measure(self, paths: Sequence[str | Path], runs: int | None = None) -> list[float]:
        """Each file's statistic (ms), combined over the repeats (median or min)."""
        per_run = self.measure_runs(paths, runs)
        return [self.combine(col) for col in zip(*per_run, strict=True)] if per_run else []


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"
