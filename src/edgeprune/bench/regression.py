"""Latency regression gate: ratios to a reference workload, a baseline file, and a noise-aware verdict.

Raw milliseconds drift between runs and machines, so every model is measured *together with* a reference
workload in the same runner process (timed runs interleaved round-robin) and its latency is stored as
``ratio = p50(model) / p50(reference)``. The reference is by default the rung of the built-in ladder
closest to the model in latency (:mod:`edgeprune.bench.reference`): a reference much smaller than the model
does not suffer from a busy neighbour the way the model does, and the ratio moves. A baseline fixes each
model's rung, so a later run is paired with the same one. Each model is paired with its reference alone:
measured here, a 50-MMAC model interleaved beside a 0.06-MMAC one doubled the small one's latency (evicted
caches), so a regression in one model would have leaked into its neighbours' ratios. One measurement
repeats each pair in ``repeats`` fresh processes; the stored ratio is the median over repeats and its
``noise`` the robust spread (1.4826 x MAD, floored at :data:`NOISE_FLOOR`) of ``log(ratio)`` over repeats,
i.e. a relative spread.

:func:`compare` flags a regression only when the ratio grew by more than ``threshold`` (default 10%)
*and* by more than ``sigmas`` combined noises of baseline and current can explain. A baseline file is
simply a saved measurement (same JSON), so ``--update-baseline`` writes the current one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.bench.reference import LADDER, pick_rungs
from edgeprune.errors import EdgepruneError
from edgeprune.formats import format_for_runtime
from edgeprune.hashing import sha256_file

SCHEMA = "edgeprune.bench.latency/2"
NOISE_FLOOR = 0.01  # relative; below this the spread of a handful of repeats is luck, not precision
PROBE_RUNS = 10  # timed runs of the one-process probe that picks each model's rung

MeasureMany = Callable[[Sequence[str | Path], Protocol, int], list[dict]]


class BaselineMismatchError(EdgepruneError):
    """The baseline was measured under a different protocol or reference; ratios are not comparable."""


def local_measure_many(paths: Sequence[str | Path], protocol: Protocol, repeats: int) -> list[dict]:
    """``repeats`` fresh local runner processes (see :func:`measure_local`)."""
    return [measure_local(list(paths), protocol) for _ in range(repeats)]


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


def _probe(protocol: Protocol, measure_many: MeasureMany) -> Callable[[list[Path]], list[float]]:
    """p50 of each path from one short process (used only to pick rungs, never gated)."""
    quick = replace(protocol, warmup=min(protocol.warmup, 3), runs=PROBE_RUNS, min_seconds=0.0)

    def probe(paths: list[Path]) -> list[float]:
        (run,) = measure_many(paths, quick, 1)
        return [_p50(run, i) for i in range(len(paths))]

    return probe


def baseline_rungs(baseline: Mapping | None) -> dict[str, str]:
    """Model name -> the reference each model was measured against in ``baseline`` (empty without one)."""
    if not baseline:
        return {}
    return {name: m["reference"]["name"] for name, m in baseline.get("models", {}).items() if "reference" in m}


def assign_references(
    models: Mapping[str, str | Path],
    references: Mapping[str, Path],
    protocol: Protocol,
    measure_many: MeasureMany = local_measure_many,
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Model name -> reference name: the only one, the one ``fixed`` names (a baseline's), or the nearest rung."""
    if len(references) == 1:
        (only,) = references
        return dict.fromkeys(models, only)
    fixed = {name: ref for name, ref in (fixed or {}).items() if name in models and ref in references}
    todo = {name: path for name, path in models.items() if name not in fixed}
    picked = pick_rungs(todo, references, _probe(protocol, measure_many)) if todo else {}
    return {name: fixed.get(name) or picked[name] for name in models}


def _check_artifacts(models: Mapping[str, str | Path], references: Mapping[str, Path], runtime: str) -> None:
    if not models:
        raise EdgepruneError("no models to measure: give at least one --model")
    if not references:
        raise EdgepruneError("no reference workload given")
    ext = format_for_runtime(runtime).suffix
    for name, path in {**{f"reference {r}": p for r, p in references.items()}, **models}.items():
        if not Path(path).is_file():
            raise EdgepruneError(f"artifact for {name!r} does not exist: {path}")
        if ext and Path(path).suffix != ext:
            raise EdgepruneError(f"artifact for {name!r} ({path}) must be a {ext} file for runtime {runtime}")


def measure_ratios(
    models: Mapping[str, str | Path],
    references: Mapping[str, Path],
    protocol: Protocol,
    repeats: int = 5,
    measure_many: MeasureMany = local_measure_many,
    reference_kind: str = LADDER,
    fixed: Mapping[str, str] | None = None,
) -> dict:
    """Measure each model interleaved with its reference in ``repeats`` processes; return the ratio record.

    ``references`` maps names to artifacts: one (every model uses it) or a ladder (each model gets the
    rung nearest in latency, or the one ``fixed`` names, e.g. :func:`baseline_rungs` of the baseline).
    Each model gets its own runner processes with only its reference beside it, so that one model
    growing (say, 20x) cannot shift the other models' ratios through shared caches.
    """
    if repeats < 1:
        raise EdgepruneError(f"repeats must be >= 1, got {repeats}")
    _check_artifacts(models, references, protocol.runtime)
    assigned = assign_references(models, references, protocol, measure_many, fixed)
    record_models = {}
    for name, path in models.items():  # one pair per process: a big neighbour would evict the others' caches
        ref_name = assigned[name]
        runs = measure_many([references[ref_name], path], protocol, repeats)
        pair_ref = [_p50(run, 0) for run in runs]
        p50 = [_p50(run, 1) for run in runs]
        ratios = [m / r for m, r in zip(p50, pair_ref, strict=True)]
        record_models[name] = {
            "path": str(path),
            "sha256": sha256_file(path),
            "size_bytes": runs[0]["results"][1]["size_bytes"],
            "ratio": statistics.median(ratios),
            "noise": log_spread(ratios),
            "ratios": ratios,
            "p50_ms": statistics.median(p50),
            "reference": {
                "name": ref_name,
                "sha256": sha256_file(references[ref_name]),
                "p50_ms": statistics.median(pair_ref),
            },
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
        "reference": {"name": reference_kind, "rungs": list(references)},
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


def _check_comparable(current: dict, baseline: dict) -> None:
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


def _reference_notes(name: str, cur: dict, base: dict) -> list[str]:
    """A model paired with another reference than in the baseline cannot be compared; a rebuilt one is noted."""
    cur_ref, base_ref = cur["reference"], base["reference"]
    if cur_ref["name"] != base_ref["name"]:
        raise BaselineMismatchError(
            f"{name}: measured against {cur_ref['name']!r} but the baseline used {base_ref['name']!r}; "
            "measure with the baseline's rungs (baseline_rungs) or rerun with --update-baseline"
        )
    if cur_ref["sha256"] != base_ref["sha256"]:
        return [f"{name}: reference {cur_ref['name']} was rebuilt (sha256 differs); ratios assume it did the same work"]
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
    _check_comparable(current, baseline)
    notes: list[str] = []
    verdicts = []
    for name, cur in current["models"].items():
        base = baseline["models"].get(name)
        if base is None:
            verdicts.append(ModelVerdict(name, "new", current_ratio=cur["ratio"], message=f"{name}: not in baseline"))
        else:
            notes += _reference_notes(name, cur, base)
            verdicts.append(_verdict(name, cur, base, threshold, sigmas))
    for name, base in baseline["models"].items():
        if name not in current["models"]:
            verdicts.append(
                ModelVerdict(name, "missing", baseline_ratio=base["ratio"], message=f"{name}: not measured")
            )
    return GateResult(threshold, tuple(verdicts), tuple(notes))
