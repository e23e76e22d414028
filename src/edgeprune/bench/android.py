"""Android: time ``.tflite`` artifacts on a device over adb with TensorFlow Lite's ``benchmark_model``.

``benchmark_model`` runs one model per invocation, so artifacts cannot be interleaved inside one process as the
local runner does; instead the artifacts take turns (A, B, A, B, ...) for ``repeats`` rounds, and each artifact's
latency is the median over its rounds, so slow drift (thermal throttling, other load) hits every artifact alike.
Each round pushes the file, runs the tool, parses its output with :mod:`edgeprune.bench.benchmark_model` and
removes the file from the device. The memory figure is the tool's own "memory footprint delta" (MB).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.bench.benchmark_model import AdbRunner, BenchmarkModelError, BenchmarkModelRun
from edgeprune.errors import EdgepruneError

RECORD_VERSION = 1


@dataclass(frozen=True)
class AndroidRound:
    """What one ``benchmark_model`` run printed that the table needs (milliseconds, MB)."""

    p50_ms: float | None  # the tool's median (newer builds print percentiles), else None
    avg_ms: float
    init_ms: float | None
    first_ms: float | None
    memory_mb: float | None
    count: int
    xnnpack: bool

    @classmethod
    def of(cls, run: BenchmarkModelRun, source: str) -> AndroidRound:
        inf = run.inference
        avg_us = inf.avg if inf is not None and inf.avg is not None else run.inference_avg_us
        if avg_us is None:
            raise BenchmarkModelError(f"{source}: benchmark_model printed no inference average")
        median = None if inf is None or inf.median is None else inf.median / 1e3
        first = None if run.first_inference_us is None else run.first_inference_us / 1e3
        count = inf.count if inf is not None else 0
        return cls(median, avg_us / 1e3, run.init_ms, first, run.memory_overall_mb, count, run.xnnpack)

    @property
    def typical_ms(self) -> float:
        """The median when the tool printed one, else the mean."""
        return self.p50_ms if self.p50_ms is not None else self.avg_ms


@dataclass(frozen=True)
class AndroidTiming:
    """One artifact's rounds on the device."""

    name: str
    path: str
    size_bytes: int
    rounds: list[AndroidRound]

    @property
    def latency_ms(self) -> float:
        """Median over the rounds of each round's median (mean where the tool printed no median)."""
        return statistics.median(r.typical_ms for r in self.rounds)

    @property
    def statistic(self) -> str:
        return "median" if all(r.p50_ms is not None for r in self.rounds) else "mean"

    @property
    def memory_mb(self) -> float | None:
        values = [r.memory_mb for r in self.rounds if r.memory_mb is not None]
        return max(values) if values else None

    @property
    def init_ms(self) -> float | None:
        values = [r.init_ms for r in self.rounds if r.init_ms is not None]
        return statistics.median(values) if values else None

    @property
    def xnnpack(self) -> bool:
        return any(r.xnnpack for r in self.rounds)


@dataclass(frozen=True)
class AndroidMeasurement:
    """Every artifact's rounds on one device, and how they were run."""

    serial: str | None
    binary: str
    threads: int
    warmup: int
    runs: int
    repeats: int
    xnnpack: bool
    timings: list[AndroidTiming]
    version: int = RECORD_VERSION
    notes: list[str] = field(default_factory=list)

    def speedup(self, timing: AndroidTiming) -> float:
        """The first artifact's latency over ``timing``'s (both from alternating rounds on this device)."""
        return self.timings[0].latency_ms / timing.latency_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "summary": {
                t.name: {"latency_ms": t.latency_ms, "statistic": t.statistic, "speedup": self.speedup(t)}
                for t in self.timings
            },
        }


def check_tflite(models: dict[str, Path]) -> None:
    """benchmark_model runs .tflite files only; name the first other file."""
    for name, path in models.items():
        if Path(path).suffix != ".tflite":
            raise EdgepruneError(f"--android runs .tflite artifacts with benchmark_model; {name}={path} is not one")
        if not Path(path).is_file():
            raise EdgepruneError(f"artifact {path} does not exist")


def measure_android(
    models: dict[str, Path],
    runner: AdbRunner,
    threads: int = 1,
    warmup: int = 20,
    runs: int = 200,
    repeats: int = 3,
    xnnpack: bool = True,
) -> AndroidMeasurement:
    """Run every artifact ``repeats`` times on the device, taking turns, and collect the parsed rounds."""
    from edgeprune.progress import progress_bar

    check_tflite(models)
    rounds: dict[str, list[AndroidRound]] = {name: [] for name in models}
    total = repeats * len(models)
    with progress_bar(f"benchmark_model on {runner.serial or 'the adb device'}", total=total) as bar:
        for _ in range(repeats):
            for name, path in models.items():
                run = runner.run(path, threads=threads, xnnpack=xnnpack, warmup_runs=warmup, num_runs=runs)
                rounds[name].append(AndroidRound.of(run, f"{runner.binary} ({Path(path).name})"))
                bar.advance()
    timings = [AndroidTiming(n, str(p), Path(p).stat().st_size, rounds[n]) for n, p in models.items()]
    return AndroidMeasurement(runner.serial, runner.binary, threads, warmup, runs, repeats, xnnpack, timings)
