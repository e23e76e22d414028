"""Latency measurements as typed records: one per artifact, all taken interleaved in one fresh runner process."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.config import BenchConfig
from edgeprune.errors import EdgepruneError

RECORD_VERSION = 1


@dataclass(frozen=True)
class Latency:
    """Timing of one artifact (milliseconds)."""

    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    count: int
    load_ms: float
    first_ms: float


@dataclass(frozen=True)
class Measurement:
    """Every artifact of one runner process, and how and where they were timed."""

    runtime: str
    threads: int
    warmup: int
    runs: int
    interleaved: bool
    latency: dict[str, Latency]  # artifact path -> timing
    peak_rss_bytes: int  # the runner process's own high-water mark (Linux VmHWM), every artifact loaded and run
    env: dict[str, Any] = field(default_factory=dict)
    rss_before_models_bytes: int | None = None  # the runner after importing the runtimes, before any model
    version: int = RECORD_VERSION

    @property
    def models_rss_bytes(self) -> int | None:
        """What loading and running the artifacts added to the runner's resident size (None when unknown)."""
        if self.rss_before_models_bytes is None:
            return None
        return max(self.peak_rss_bytes - self.rss_before_models_bytes, 0)

    def of(self, path: str | Path) -> Latency:
        return self.latency[str(path)]

    def speedup(self, baseline: str | Path, other: str | Path) -> float:
        """p50 of ``baseline`` over p50 of ``other`` (both from this one run)."""
        return self.of(baseline).p50 / self.of(other).p50

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        if data.get("version") != RECORD_VERSION:
            raise EdgepruneError(f"measurement record: field 'version' is {data.get('version')!r}")
        latency = {k: Latency(**v) for k, v in data["latency"].items()}
        return cls(**{**data, "latency": latency})


def protocol_for(bench: BenchConfig, runtime: str) -> Protocol:
    """The latency protocol a target's ``[bench]`` section describes, on ``runtime``."""
    return Protocol(
        runtime, bench.threads, bench.warmup, bench.runs, bench.min_seconds, tuple(bench.cores), bench.xnnpack
    )


def time_together(paths: list[str | Path], protocol: Protocol) -> Measurement:
    """Time every artifact interleaved (round-robin) in one fresh runner process.

    ``protocol.runtime`` "" runs each artifact on its suffix's runtime (formats mixed in one process)."""
    from edgeprune.progress import progress_bar

    with progress_bar(f"timing {len(paths)} artifact(s) interleaved in one process", total=1) as bar:
        raw = measure_local(list(paths), protocol)
        bar.advance()
    latency = {}
    for path, result in zip(paths, raw["results"], strict=True):
        lat = result["latency_ms"]
        latency[str(path)] = Latency(
            lat["p50"], lat["p90"], lat["p99"], lat["mean"], lat["std"], int(lat["count"]),
            result["load_ms"], result["first_ms"],
        )  # fmt: skip
    return Measurement(
        runtime=protocol.runtime or str(raw.get("runtime", "")),
        threads=protocol.threads,
        warmup=protocol.warmup,
        runs=protocol.runs,
        interleaved=True,
        latency=latency,
        peak_rss_bytes=int(raw.get("peak_rss_bytes", 0)),
        env=dict(raw.get("env", {})),
        rss_before_models_bytes=raw.get("rss_before_models_bytes"),
    )
