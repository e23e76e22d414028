"""Latency regression gate: ratios to a reference workload, a baseline file, and a noise-aware verdict.

Raw milliseconds drift between runs and machines, so every model is measured *together with* a fixed
reference workload in the same runner process (timed runs interleaved round-robin) and its latency is
stored as ``ratio = p50(model) / p50(reference)``. Each model is paired with the reference alone: measured
here, a 50-MMAC model interleaved beside a 0.06-MMAC one doubled the small one's latency (evicted caches),
so a regression in one model would have leaked into its neighbours' ratios. One measurement repeats each
pair in ``repeats`` fresh processes; the stored ratio is the median over repeats and its ``noise`` the robust spread
(1.4826 x MAD, floored at :data:`NOISE_FLOOR`) of ``log(ratio)`` over repeats, i.e. a relative spread.

:func:`compare` flags a regression only when the ratio grew by more than ``threshold`` (default 10%)
*and* by more than ``sigmas`` combined noises of baseline and current can explain. A baseline file is
simply a saved measurement (same JSON), so ``--update-baseline`` writes the current one.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.errors import EdgepruneError

SCHEMA = "edgeprune.bench.latency/1"
NOISE_FLOOR = 0.01  # relative; below this the spread of a handful of repeats is luck, not precision
REFERENCE_NAME = "builtin:conv64-v1"
REFERENCE_SHAPE = (1, 3, 64, 64)
ARTIFACT_SUFFIX = {"litert": ".tflite", "onnxruntime": ".onnx"}
CACHE_DIR = Path.home() / ".cache" / "edgeprune" / "bench"

MeasureMany = Callable[[Sequence[str | Path], Protocol, int], list[dict]]


class BaselineMismatchError(EdgepruneError):
    """The baseline was measured under a different protocol or reference; ratios are not comparable."""


def local_measure_many(paths: Sequence[str | Path], protocol: Protocol, repeats: int) -> list[dict]:
    """``repeats`` fresh local runner processes (see :func:`measure_local`)."""
    return [measure_local(list(paths), protocol) for _ in range(repeats)]


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def log_spread(values: Sequence[float]) -> float:
    """Robust relative spread of positive ``values``: 1.4826 x MAD of their logs, at least NOISE_FLOOR."""
    logs = [math.log(v) for v in values]
    if len(logs) < 2:
        return NOISE_FLOOR
    mid = statistics.median(logs)
    return max(1.4826 * statistics.median(abs(x - mid) for x in logs), NOISE_FLOOR)


def _p50(run: dict, index: int) -> float:
    p50 = run["results"][index]["latency_ms"]["p50"]
    if not p50 or p50 <= 0:
        raise EdgepruneError(f"runner reported p50={p50!r} for {run['results'][index]['path']}")
    return float(p50)


def measure_ratios(
    models: Mapping[str, str | Path],
    reference: str | Path,
    protocol: Protocol,
    repeats: int = 5,
    measure_many: MeasureMany = local_measure_many,
    reference_name: str | None = None,
) -> dict:
    """Measure each model interleaved with ``reference`` in ``repeats`` processes; return the ratio record.

    Each model gets its own runner processes with only the reference beside it, so that one model
    growing (say, 20x) cannot shift the other models' ratios through shared caches.
    """
    if not models:
        raise EdgepruneError("no models to measure: give at least one --model")
    if repeats < 1:
        raise EdgepruneError(f"repeats must be >= 1, got {repeats}")
    ext = ARTIFACT_SUFFIX.get(protocol.runtime)
    for name, path in {"reference": reference, **models}.items():
        if not Path(path).is_file():
            raise EdgepruneError(f"artifact for {name!r} does not exist: {path}")
        if ext and Path(path).suffix != ext:
            raise EdgepruneError(f"artifact for {name!r} ({path}) must be a {ext} file for runtime {protocol.runtime}")
    ref_p50: list[float] = []
    record_models = {}
    for name, path in models.items():  # one pair per process: a big neighbour would evict the others' caches
        runs = measure_many([reference, path], protocol, repeats)
        pair_ref = [_p50(run, 0) for run in runs]
        p50 = [_p50(run, 1) for run in runs]
        ratios = [m / r for m, r in zip(p50, pair_ref, strict=False)]
        ref_p50 += pair_ref
        record_models[name] = {
            "path": str(path),
            "sha256": sha256(path),
            "size_bytes": runs[0]["results"][1]["size_bytes"],
            "ratio": statistics.median(ratios),
            "noise": log_spread(ratios),
            "ratios": ratios,
            "p50_ms": statistics.median(p50),
            "reference_p50_ms": statistics.median(pair_ref),
            "first_ms": statistics.median(run["results"][1]["first_ms"] for run in runs),
            "load_ms": statistics.median(run["results"][1]["load_ms"] for run in runs),
            "peak_rss_bytes": max(run.get("peak_rss_bytes", 0) for run in runs),
        }
    return {
        "schema": SCHEMA,
        "protocol": {
            "runtime": protocol.runtime,
            "threads": protocol.threads,
            "xnnpack": protocol.xnnpack,
            "warmup": protocol.warmup,
            "runs": protocol.runs,
            "min_seconds": protocol.min_seconds,
            "cores": list(protocol.cores),
            "repeats": repeats,
        },
        "reference": {
            "name": reference_name or Path(reference).name,
            "path": str(reference),
            "sha256": sha256(reference),
            "p50_ms": statistics.median(ref_p50),
        },
        "env": runs[0].get("env", {}),
        "remote": runs[0].get("remote"),
        "models": record_models,
    }


@dataclass(frozen=True)
class ModelVerdict:
    """The gate's word on one model."""

    name: str
    status: str  # ok | regression | faster | new | missing
    baseline_ratio: float | None = None
    current_ratio: float | None = None
    change: float | None = None  # current / baseline - 1
    explainable: float | None = None  # relative change the noise can explain
    message: str = ""


@dataclass(frozen=True)
class GateResult:
    """Verdicts for every model, plus notes (e.g. a rebuilt reference)."""

    threshold: float
    verdicts: tuple[ModelVerdict, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not any(v.status == "regression" for v in self.verdicts)

    @property
    def regressions(self) -> list[ModelVerdict]:
        return [v for v in self.verdicts if v.status == "regression"]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "threshold": self.threshold, "notes": list(self.notes),
                "verdicts": [asdict(v) for v in self.verdicts]}  # fmt: skip


_COMPARABLE = ("runtime", "threads", "xnnpack")


def _check_comparable(current: dict, baseline: dict) -> list[str]:
    for rec, which in ((current, "current"), (baseline, "baseline")):
        if rec.get("schema") != SCHEMA:
            raise BaselineMismatchError(f"{which} measurement has schema {rec.get('schema')!r}, expected {SCHEMA!r}")
    diffs = [
        f"{k}: baseline {baseline['protocol'].get(k)!r} vs current {current['protocol'].get(k)!r}"
        for k in _COMPARABLE
        if baseline["protocol"].get(k) != current["protocol"].get(k)
    ]
    if baseline["reference"]["name"] != current["reference"]["name"]:
        diffs.append(
            f"reference: baseline {baseline['reference']['name']!r} vs current {current['reference']['name']!r}"
        )
    if diffs:
        raise BaselineMismatchError(
            "baseline is not comparable (" + "; ".join(diffs) + "); rerun with --update-baseline"
        )
    if baseline["reference"]["sha256"] != current["reference"]["sha256"]:
        return [
            f"reference {current['reference']['name']} was rebuilt (sha256 differs); ratios assume it did the same work"
        ]
    return []


def _verdict(name: str, cur: dict, base: dict, threshold: float, sigmas: float) -> ModelVerdict:
    change = cur["ratio"] / base["ratio"] - 1.0
    explainable = math.exp(sigmas * math.hypot(cur["noise"], base["noise"])) - 1.0
    bound = max(threshold, explainable)
    args = dict(baseline_ratio=base["ratio"], current_ratio=cur["ratio"], change=change, explainable=explainable)
    if change > bound:
        msg = f"{name}: {change:+.1%} vs baseline, beyond the {threshold:.0%} threshold and the {explainable:.1%} noise"
        return ModelVerdict(name, "regression", message=msg, **args)
    if change < -bound:
        return ModelVerdict(name, "faster", message=f"{name}: {change:+.1%} vs baseline", **args)
    why = "within threshold" if abs(change) <= threshold else f"within noise ({explainable:.1%})"
    return ModelVerdict(name, "ok", message=f"{name}: {change:+.1%} vs baseline, {why}", **args)


def compare(current: dict, baseline: dict, threshold: float = 0.10, sigmas: float = 2.0) -> GateResult:
    """Verdict per model: regression when the ratio grew > ``threshold`` and > ``sigmas`` x combined noise."""
    if threshold < 0:
        raise EdgepruneError(f"threshold must be >= 0, got {threshold}")
    notes = _check_comparable(current, baseline)
    verdicts = []
    for name, cur in current["models"].items():
        base = baseline["models"].get(name)
        if base is None:
            verdicts.append(ModelVerdict(name, "new", current_ratio=cur["ratio"], message=f"{name}: not in baseline"))
        else:
            verdicts.append(_verdict(name, cur, base, threshold, sigmas))
    for name, base in baseline["models"].items():
        if name not in current["models"]:
            verdicts.append(
                ModelVerdict(name, "missing", baseline_ratio=base["ratio"], message=f"{name}: not measured")
            )
    return GateResult(threshold, tuple(verdicts), tuple(notes))


def build_reference(runtime: str, path: str | Path) -> Path:
    """Write the built-in reference workload (a seeded 3-conv net on 1x3x64x64) for ``runtime``."""
    import torch
    from torch import nn

    from edgeprune.atomic import write_with

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        ).eval()  # fmt: skip
        x = torch.randn(*REFERENCE_SHAPE)
    if runtime == "litert":
        import litert_torch

        edge = litert_torch.convert(net, (x,))
        write_with(path, lambda tmp: edge.export(str(tmp)))
    elif runtime == "onnxruntime":
        write_with(path, lambda tmp: torch.onnx.export(net, (x,), str(tmp), dynamo=True, external_data=False))
    else:
        raise EdgepruneError(f"no built-in reference for runtime {runtime!r}; use litert or onnxruntime")
    return Path(path)


def default_reference(runtime: str, cache_dir: str | Path = CACHE_DIR) -> Path:
    """The built-in reference for ``runtime``, built once and cached under ``cache_dir``."""
    ext = ARTIFACT_SUFFIX.get(runtime)
    if ext is None:
        raise EdgepruneError(f"no built-in reference for runtime {runtime!r}; use litert or onnxruntime")
    path = Path(cache_dir) / f"reference-{REFERENCE_NAME.split(':')[1]}{ext}"
    return path if path.is_file() else build_reference(runtime, path)
