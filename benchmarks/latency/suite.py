"""Latency regression suite: pruned vs unpruned on LiteRT and ONNX Runtime, realized speedup, regression gate.

Every architecture (the trained default and four torchvision models) is measured unpruned and pruned to
0.5x MACs with round_to 1/8/16, fp32 TFLite and ONNX, at 1 and 2 threads, interleaved A/B in one runner
process. Writes build/bench/latency/results.json, latency_vs_macs.png and docs/latency.md (full runs only).

    PYTHONPATH=src python benchmarks/latency/suite.py                    # full suite
    PYTHONPATH=src python benchmarks/latency/suite.py --quick --check    # gate against baseline.json
    PYTHONPATH=src python benchmarks/latency/suite.py --update-baseline  # rewrite the committed baseline
    PYTHONPATH=src python benchmarks/latency/suite.py --check --swap-unpruned mobilenet_v2  # must fail

``--check`` exits 1 when a model's ratio (pruned: to its unpruned twin; unpruned: to the rung of the built-in
reference ladder nearest it in latency, both measured in the same run) grew beyond the threshold and the noise
of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite_measure as sm
import suite_report
import suite_variants as sv

from edgeprune.atomic import write_json, write_text
from edgeprune.bench.harness import Protocol
from edgeprune.bench.reference import builtin_ladder
from edgeprune.bench.regression import BaselineMismatchError, baseline_rungs, compare
from edgeprune.errors import EdgepruneError, run_script

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCHEMA = "edgeprune.bench.latency_suite/1"
QUICK = {"runs": 30, "warmup": 5, "repeats": 2, "min_seconds": 0.3}
FULL = {"runs": 100, "warmup": 10, "repeats": 3, "min_seconds": 1.0}  # min_seconds: tiny models time many runs
MIN_RUNS = 20


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(sv.ARCHS), help="comma list of architectures (default: all)")
    p.add_argument("--runtimes", default="litert,onnxruntime", help="comma list (default litert,onnxruntime)")
    p.add_argument("--threads", type=_ints, default=[1, 2], help="comma list (default 1,2)")
    p.add_argument(
        "--round-to", type=_ints, default=[1, 8, 16], help="round_to of the pruned variants (default 1,8,16)"
    )
    p.add_argument("--budget", type=float, default=0.5, help="MACs of the pruned models / unpruned (default 0.5)")
    p.add_argument("--quick", action="store_true", help=f"develop-time settings {QUICK} instead of {FULL}")
    p.add_argument("--runs", type=int, help="timed runs per process (slow archs get a share, >= 30)")
    p.add_argument("--warmup", type=int, help="warm-up rounds per process")
    p.add_argument("--min-seconds", type=float, help="keep timing each process at least this long")
    p.add_argument("--repeats", type=int, help="fresh runner processes per measurement (>= 2 for a noise estimate)")
    p.add_argument("--check", action="store_true", help="gate against the baseline; exit 1 on a regression")
    p.add_argument("--update-baseline", action="store_true", help="write this run as the baseline")
    p.add_argument("--baseline", type=Path, default=HERE / "baseline.json")
    p.add_argument("--threshold", type=float, default=0.10, help="ratio growth that counts (default 0.10)")
    p.add_argument(
        "--swap-unpruned",
        action="append",
        default=[],
        metavar="ARCH[/rK]",
        help="debug: time the unpruned artifact in place of ARCH's pruned one(s); --check must fail",
    )
    p.add_argument("--out-dir", type=Path, default=ROOT / "build" / "bench" / "latency")
    p.add_argument("--cache-dir", type=Path, default=ROOT / "build" / "bench" / "latency" / "cache")
    p.add_argument("--rebuild", action="store_true", help="bisect and export again even where cached")
    p.add_argument(
        "--trust-cache",
        action="store_true",
        help="reuse artifacts exported by older edgeprune export code (not for gate runs)",
    )
    p.add_argument("--markdown", type=Path, help="table file (default docs/latency.md on full, unswapped runs)")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.models = [m for m in args.models.split(",") if m]
    args.runtimes = [r for r in args.runtimes.split(",") if r]
    return args


def validate(args: argparse.Namespace) -> None:
    unknown = [m for m in args.models if m not in sv.ARCHS]
    if unknown:
        raise EdgepruneError(f"--models: unknown architecture(s) {unknown}; known: {list(sv.ARCHS)}")
    bad = [r for r in args.runtimes if r not in sv.FORMATS]
    if bad:
        raise EdgepruneError(f"--runtimes: {bad} not supported; use {sorted(sv.FORMATS)}")
    for swap in args.swap_unpruned:
        arch, _, variant = swap.partition("/")
        if arch not in args.models or (variant and variant not in {f"r{k}" for k in args.round_to}):
            raise EdgepruneError(f"--swap-unpruned {swap}: no such pruned model among {args.models} x r{args.round_to}")
    if args.check and not args.baseline.is_file():
        raise EdgepruneError(f"baseline {args.baseline} does not exist; create it with --update-baseline")
    if args.runs < MIN_RUNS or args.repeats < 1 or args.warmup < 0:
        raise EdgepruneError(f"--runs must be >= {MIN_RUNS}, --repeats >= 1, --warmup >= 0")


def environment() -> dict:
    from edgeprune.versions import versions

    cpu = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    v = versions()
    line = ", ".join(f"{k} {v[k]}" for k in ("torch", "torch-pruning", "litert-torch", "ai-edge-litert", "onnxruntime"))
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "versions": v,
        "versions_line": line,
    }


def swapped(args: argparse.Namespace, arch: str, variant: str) -> bool:
    return variant != sm.UNPRUNED and (arch in args.swap_unpruned or f"{arch}/{variant}" in args.swap_unpruned)


def build(args: argparse.Namespace) -> dict[str, list[sv.Variant]]:
    formats = [sv.FORMATS[r] for r in args.runtimes]
    out = {}
    for name in args.models:
        start = time.perf_counter()
        out[name] = sv.build_variants(
            sv.ARCHS[name],
            args.cache_dir,
            args.round_to,
            formats,
            args.budget,
            log=_log,
            rebuild=args.rebuild,
            trust_cache=args.trust_cache,
        )
        _log(f"{name}: {len(out[name])} variants ready in {time.perf_counter() - start:.0f} s")
    return out


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(
    args: argparse.Namespace, built: dict[str, list[sv.Variant]], baseline: dict | None = None
) -> tuple[list[dict], dict[str, dict]]:
    """All A/B measurements and the gate record of every (runtime, threads); ``baseline`` fixes the rungs."""
    rows, records = [], {}
    for runtime in args.runtimes:
        fmt, ladder = sv.FORMATS[runtime], builtin_ladder(runtime)
        for threads in args.threads:
            base = Protocol(runtime, threads, args.warmup, args.runs, args.min_seconds)
            protocols, repeats, pruned_entries, unpruned = {}, {}, {}, {}
            for arch, variants in built.items():
                ok = [v for v in variants if fmt in v.artifacts]
                if not any(v.name == sm.UNPRUNED for v in ok):
                    continue
                protocols[arch] = sm.arch_protocol(base, sv.ARCHS[arch].runs_scale, MIN_RUNS)
                repeats[arch] = args.repeats + sv.ARCHS[arch].extra_repeats
                paths = {v.name: v.artifacts[fmt] for v in ok}
                for v in ok:
                    if swapped(args, arch, v.name):
                        paths[v.name] = paths[sm.UNPRUNED]
                start = time.perf_counter()
                ab = sm.measure_ab(paths, protocols[arch], repeats[arch])
                new = sm.speedup_rows(arch, runtime, threads, [_vdict(v) for v in ok], ab)
                for row in new:
                    row["swapped"] = swapped(args, arch, row["variant"])
                rows += new
                unpruned[arch] = paths[sm.UNPRUNED]
                for name, m in ab.items():
                    if name != sm.UNPRUNED:
                        pruned_entries[f"{arch}/{name}"] = sm.pruned_gate_entry(arch, name, m, ab[sm.UNPRUNED])
                _log(
                    f"{runtime} {threads}T {arch}: "
                    + ", ".join(
                        f"{r['variant']} {r['p50_ms']:.2f} ms ({r['speedup_per_macs_reduction']:.2f})" for r in new
                    )
                    + f"  [{time.perf_counter() - start:.0f} s]"
                )
            if unpruned:
                fixed = baseline_rungs((baseline or {}).get("records", {}).get(f"{runtime}/t{threads}"))
                record = sm.unpruned_gate_record(unpruned, ladder, protocols, repeats, fixed)
                record["models"].update(pruned_entries)
                records[f"{runtime}/t{threads}"] = _relative(record)
    return rows, records


def _runs_note(models: list[str], runs: int) -> str:
    scaled = [
        f"{m} {max(MIN_RUNS, round(runs * sv.ARCHS[m].runs_scale))}" for m in models if sv.ARCHS[m].runs_scale != 1
    ]
    return "; ".join(scaled) if scaled else "every model"


def _repeats_note(models: list[str], repeats: int) -> str:
    more = [f"{m} {repeats + sv.ARCHS[m].extra_repeats}" for m in models if sv.ARCHS[m].extra_repeats]
    return "; ".join(more) if more else "every model"


def _vdict(v: sv.Variant) -> dict:
    return {"name": v.name, "round_to": v.round_to, "macs": v.macs, "params": v.params}


def _relative(record: dict) -> dict:
    """Artifact paths relative to the repo root, so the committed baseline does not name this checkout."""
    for entry in record["models"].values():
        p = Path(entry["path"]).resolve()
        entry["path"] = str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)
    return record


def gate(records: dict[str, dict], baseline: dict, threshold: float) -> tuple[bool, dict]:
    """Compare every (runtime, threads) record with the baseline's; returns (passed, JSON-able verdicts)."""
    if baseline.get("schema") != SCHEMA:
        raise EdgepruneError(f"baseline schema is {baseline.get('schema')!r}, expected {SCHEMA!r}")
    out, passed = {}, True
    for key, record in records.items():
        base = baseline["records"].get(key)
        if base is None:
            out[key] = {"passed": True, "notes": [f"{key} not in baseline"], "verdicts": []}
            continue
        try:
            result = compare(record, base, threshold=threshold)
        except BaselineMismatchError as exc:
            raise EdgepruneError(f"baseline record {key}: {exc}") from None
        out[key] = result.to_dict()
        passed &= result.passed
    return passed, out


def machine_note(baseline_env: dict, env: dict) -> str | None:
    """A warning when the baseline was measured on another CPU: ratios are portable only within a CPU kind."""
    was, now = (baseline_env.get("cpu"), baseline_env.get("cpus")), (env.get("cpu"), env.get("cpus"))
    if was == now:
        return None
    return (
        f"baseline measured on {was[0]} ({was[1]} cores), this run on {now[0]} ({now[1]} cores): ratios to the "
        "reference shift between CPU kinds; regenerate the baseline here (make bench-baseline) before trusting the gate"
    )


def print_gate(verdicts: dict) -> None:
    for key, res in verdicts.items():
        for v in res["verdicts"]:
            flag = "REGRESSION" if v["status"] == "regression" else v["status"]
            print(f"  [{key}] {flag:10s} {v['message']}")
        for note in res.get("notes", []):
            print(f"  [{key}] note: {note}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validate(args)
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    start, env = time.perf_counter(), environment()
    baseline = json.loads(args.baseline.read_text()) if args.check else None
    built = build(args)
    build_s = time.perf_counter() - start
    rows, records = measure(args, built, baseline)
    settings = {
        "budget": args.budget,
        "round_to": args.round_to,
        "threads": args.threads,
        "runtimes": args.runtimes,
        "runs": args.runs,
        "warmup": args.warmup,
        "min_seconds": args.min_seconds,
        "repeats": args.repeats,
        "quick": args.quick,
        "runs_scale_note": _runs_note(args.models, args.runs),
        "repeats_note": _repeats_note(args.models, args.repeats),
        "swap_unpruned": args.swap_unpruned,
        "threshold": args.threshold,
        "shared": env["loadavg_start"][0] > 0.5 * (env["cpus"] or 1),
    }
    results = {
        "schema": SCHEMA,
        "settings": settings,
        "env": env,
        "archs": {
            a: {
                "spec": sv.ARCHS[a].spec.spec,
                "input_shape": list(sv.ARCHS[a].input_shape),
                "variants": {v.name: v.to_dict(ROOT) for v in vs},
            }
            for a, vs in built.items()
        },
        "rows": rows,
        "records": records,
        "timing_s": {"build": round(build_s, 1), "total": round(time.perf_counter() - start, 1)},
    }
    passed, verdicts = True, None
    if args.check:
        passed, verdicts = gate(records, baseline, args.threshold)
        note = machine_note(baseline.get("env", {}), env)
        results["gate"] = {"passed": passed, "baseline": str(args.baseline), "records": verdicts, "machine": note}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "results.json", results)
    suite_report.plot(results, args.out_dir / "latency_vs_macs.png")
    table = suite_report.markdown(results)
    write_text(args.out_dir / "latency.md", table)
    full = not (args.quick or args.swap_unpruned) and args.models == list(sv.ARCHS)
    if args.markdown or full:
        write_text(args.markdown or ROOT / "docs" / "latency.md", table)
    print(f"wrote {args.out_dir / 'results.json'} ({results['timing_s']['total']:.0f} s, build {build_s:.0f} s)")
    if args.update_baseline:
        write_json(args.baseline, {"schema": SCHEMA, "settings": settings, "env": env, "records": records})
        print(f"baseline updated: {args.baseline}")
    if verdicts is not None:
        print_gate(verdicts)
        if results["gate"]["machine"]:
            print(f"  note: {results['gate']['machine']}")
        print("gate: PASSED" if passed else "gate: FAILED (regression)")
    return 0 if passed else 1


if __name__ == "__main__":
    run_script(main)
