"""Does a reference workload cancel a noisy neighbour? Ratio drift with the tiny rung vs the nearest rung.

The regression gate stores latency as a ratio to a reference measured in the same process. This benchmark
pins the measurement to core 0 and puts a neighbour on core 1 (a memory-streaming copy, then a busy loop),
and reports how far each model's ratio moves from the quiet value, once against the ladder's tiny bottom
rung and once against the rung nearest the model in latency (what the gate uses). A reference that
cancels the neighbour keeps the drift near 0%. Needs >= 2 cores. Writes build/bench/reference_drift.json.

    PYTHONPATH=src python benchmarks/latency/reference_drift.py [--models efficientnet_b0,resnet18]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite_variants as sv

from edgeprune.atomic import write_json
from edgeprune.bench.harness import Protocol
from edgeprune.bench.reference import RUNGS, builtin_ladder
from edgeprune.bench.regression import assign_references, measure_ratios
from edgeprune.errors import EdgepruneError, run_script
from edgeprune.progress import progress_bar

ROOT = Path(__file__).resolve().parents[2]
NEIGHBOURS = {
    "quiet": None,
    "memory": "import numpy as np\na = np.ones(16_000_000)\nb = np.empty_like(a)\nwhile True:\n    b[:] = a",
    "compute": "x = 0\nwhile True:\n    x += 1",
}


@contextmanager
def neighbour(code: str | None, core: int):
    """Run ``code`` in a Python process pinned to ``core`` for the duration (nothing for None)."""
    if code is None:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", code], preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    time.sleep(1.0)  # let it reach its steady state
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def ratios(model: Path, reference: Path, protocol: Protocol, repeats: int) -> list[float]:
    """p50(model) / p50(reference) of each of ``repeats`` fresh processes (the gate's own measurement)."""
    return measure_ratios({"m": model}, {"ref": reference}, protocol, repeats)["models"]["m"]["ratios"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="default,mobilenet_v3_small,efficientnet_b0,resnet18")
    p.add_argument("--runtimes", default="onnxruntime,litert")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--cache-dir", type=Path, default=ROOT / "build" / "bench" / "latency" / "cache")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "reference_drift.json")
    args = p.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        raise EdgepruneError("reference_drift needs >= 2 cores: one to measure on, one for the neighbour")
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in sv.ARCHS]
    if unknown:
        raise EdgepruneError(f"--models: unknown architecture(s) {unknown}; known: {list(sv.ARCHS)}")
    warnings.simplefilter("ignore")
    rows = []
    for runtime in [r for r in args.runtimes.split(",") if r]:
        fmt, ladder = sv.FORMATS[runtime], builtin_ladder(runtime)
        protocol = Protocol(runtime, 1, 10, args.runs, 1.0, cores=(0,))
        artifacts = {
            m: sv.build_variants(sv.ARCHS[m], args.cache_dir, (), (fmt,), log=lambda _: None)[0].artifacts[fmt]
            for m in models
        }
        nearest = assign_references(artifacts, ladder, protocol)
        refs = {m: {"tiny": RUNGS[0].name, "nearest": nearest[m]} for m in models}
        measured: dict = {}
        total = len(NEIGHBOURS) * len(models) * 2
        with progress_bar(f"{runtime}: ratios under neighbours", total) as bar:
            for cond, code in NEIGHBOURS.items():
                with neighbour(code, core=1):
                    for m, path in artifacts.items():
                        for kind, rung in refs[m].items():
                            measured[(cond, m, kind)] = ratios(path, ladder[rung], protocol, args.repeats)
                            bar.advance()
        for m in models:
            for kind, rung in refs[m].items():
                quiet = statistics.median(measured[("quiet", m, kind)])
                drift = {c: statistics.median(measured[(c, m, kind)]) / quiet - 1 for c in NEIGHBOURS if c != "quiet"}
                rows.append({"runtime": runtime, "model": m, "reference": kind, "rung": rung, "quiet_ratio": quiet,
                             "drift": drift, "ratios": {c: measured[(c, m, kind)] for c in NEIGHBOURS}})  # fmt: skip
                print(f"{runtime:12s} {m:20s} {kind:8s} {rung.split('/')[-1]:20s} "
                      + "  ".join(f"{c} {d:+.1%}" for c, d in drift.items()))  # fmt: skip
    write_json(args.out, {"schema": "edgeprune.bench.reference_drift/1", "repeats": args.repeats,
                          "runs": args.runs, "threads": 1, "cores": [0], "rows": rows})  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main)
