"""Interleaved A/B measurement of one architecture's variants, the speedup rows, and the gate records.

Per (runtime, threads), every variant of an architecture (unpruned first) is timed round-robin in one fresh
runner process, ``repeats`` times. Two ratios come out of it, both measured inside one run:

* the table's key column: realized speedup / MACs reduction = (p50 unpruned / p50 pruned) / (MACs unpruned /
  MACs pruned); 1.0 means every removed MAC paid off;
* the gate's ratio for a pruned variant: p50 pruned / p50 unpruned of the same process. The unpruned model
  itself is gated by its ratio to the rung of the built-in reference ladder nearest to it in latency
  (``edgeprune.bench.reference``), the rung a baseline recorded when there is one.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.bench.regression import log_spread, measure_ratios
from edgeprune.errors import EdgepruneError
from edgeprune.hashing import sha256_file as sha256

UNPRUNED = "unpruned"


def measure_ab(paths: Mapping[str, Path], protocol: Protocol, repeats: int) -> dict[str, dict]:
    """Time ``paths`` (variant -> artifact, ``unpruned`` among them) interleaved in ``repeats`` processes.

    Returns per variant: median p50/p90 over repeats, the per-process p50s, and the per-process ratio
    p50 / p50(unpruned). A file named twice (e.g. identical round_to plans) is loaded once.
    """
    if UNPRUNED not in paths:
        raise EdgepruneError(f"A/B measurement needs an '{UNPRUNED}' artifact, got {sorted(paths)}")
    if repeats < 1:
        raise EdgepruneError(f"repeats must be >= 1, got {repeats}")
    unique = list(dict.fromkeys(str(p) for p in paths.values()))
    runs = [measure_local(unique, protocol) for _ in range(repeats)]
    out: dict[str, dict] = {}
    for name, path in paths.items():
        k = unique.index(str(path))
        p50 = [float(run["results"][k]["latency_ms"]["p50"]) for run in runs]
        out[name] = {
            "path": str(path),
            "size_bytes": runs[0]["results"][k]["size_bytes"],
            "p50_ms": statistics.median(p50),
            "p90_ms": statistics.median(float(run["results"][k]["latency_ms"]["p90"]) for run in runs),
            "p50_runs": p50,
            "runs_per_process": runs[0]["results"][k]["latency_ms"]["count"],
        }
    base = out[UNPRUNED]["p50_runs"]
    for entry in out.values():
        entry["ratios"] = [p / b for p, b in zip(entry["p50_runs"], base, strict=True)]
    return out


def speedup_rows(arch: str, runtime: str, threads: int, variants: Sequence[dict], ab: Mapping[str, dict]) -> list[dict]:
    """One row per measured variant: MACs, p50, realized speedup, MACs reduction and their ratio (key column).

    ``variants`` are ``{"name", "round_to", "macs", "params"}`` dicts, the unpruned one among them.
    """
    by_name = {v["name"]: v for v in variants}
    base, base_ab = by_name[UNPRUNED], ab[UNPRUNED]
    rows = []
    for name, m in ab.items():
        v = by_name[name]
        macs_reduction = base["macs"] / v["macs"]
        speedup = base_ab["p50_ms"] / m["p50_ms"]
        rows.append(
            {
                "arch": arch,
                "runtime": runtime,
                "threads": threads,
                "variant": name,
                "round_to": v["round_to"],
                "macs": v["macs"],
                "params": v["params"],
                "size_bytes": m["size_bytes"],
                "p50_ms": m["p50_ms"],
                "p90_ms": m["p90_ms"],
                "p50_unpruned_ms": base_ab["p50_ms"],
                "macs_reduction": macs_reduction,
                "speedup": speedup,
                "speedup_per_macs_reduction": speedup / macs_reduction,
            }
        )
    return rows


def pruned_gate_entry(arch: str, name: str, m: dict, unpruned: dict) -> dict:
    """A regression-gate model entry whose ratio is p50 pruned / p50 unpruned of the same processes.

    ``m`` and ``unpruned`` are :func:`measure_ab` entries; the unpruned twin is the entry's reference.
    """
    twin = f"{arch}/{UNPRUNED}"
    return {
        "path": m["path"],
        "sha256": sha256(m["path"]),
        "size_bytes": m["size_bytes"],
        "ratio": statistics.median(m["ratios"]),
        "noise": log_spread(m["ratios"]),
        "ratios": m["ratios"],
        "p50_ms": m["p50_ms"],
        "reference": {"name": twin, "sha256": sha256(unpruned["path"]), "p50_ms": unpruned["p50_ms"]},
        "vs": twin,
    }


def unpruned_gate_record(
    unpruned: Mapping[str, Path],
    ladder: Mapping[str, Path],
    protocols: Mapping[str, Protocol],
    repeats: Mapping[str, int],
    fixed: Mapping[str, str] | None = None,
) -> dict:
    """Each arch's unpruned artifact paired alone with its reference rung (``measure_ratios``), in one record.

    ``repeats`` and ``protocols`` are per arch; ``fixed`` (gate model name -> rung, from the baseline) keeps the
    baseline's pairing.
    """
    record: dict = {}
    for arch, path in unpruned.items():
        rec = measure_ratios({f"{arch}/{UNPRUNED}": path}, ladder, protocols[arch], repeats[arch], fixed=fixed)
        for entry in rec["models"].values():
            entry["vs"] = entry["reference"]["name"]
        if not record:
            record = rec
        else:
            record["models"].update(rec["models"])
    return record


def arch_protocol(base: Protocol, runs_scale: float, min_runs: int) -> Protocol:
    """``base`` with the arch's share of timed runs (slow models get fewer, never below ``min_runs``)."""
    return replace(base, runs=max(min_runs, round(base.runs * runs_scale)))
