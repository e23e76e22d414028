"""Peak memory of the latency runner on the default model: the runner's own high-water mark (VmHWM), with the
resident size after importing the runtimes and before loading a model.

Cases: the default model's TFLite fp32 artifact alone (what ``make deploy TARGET=tflite`` times, beside its pruned
twin), the same with an ONNX artifact in one process (both runtimes imported), and optionally every artifact of a
deploy or compare folder (``--artifacts DIR``). Writes build/bench/runner_memory.json; exits 1 when a case's peak
is over ``--limit-mb`` (default 100 MB).

Usage: PYTHONPATH=src python benchmarks/runner_memory.py [--artifacts build/deploy/tflite] [--limit-mb 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from edgeprune.atomic import write_json
from edgeprune.bench.harness import Protocol
from edgeprune.bench.measurement import time_together
from edgeprune.export import export_model
from edgeprune.models import ModelSpec, build_model

ROOT = Path(__file__).resolve().parents[1]
MB = 10**6


def default_artifacts(folder: Path) -> dict[str, Path]:
    """The default model (seeded weights: memory does not depend on their values) as TFLite fp32 and ONNX fp32."""
    torch.manual_seed(0)
    model = build_model(ModelSpec("edgeprune:default")).eval()
    x = torch.randn(1, 1, 28, 28)
    return {
        "tflite": export_model(model, x, folder / "default_fp32.tflite", "tflite").path,
        "onnx": export_model(model, x, folder / "default_fp32.onnx", "onnx").path,
    }


def measure(paths: list[Path], runs: int) -> dict[str, float]:
    m = time_together(paths, Protocol(runtime="", warmup=20, runs=runs))
    before = m.rss_before_models_bytes or 0
    return {
        "artifacts": [p.name for p in paths],
        "runtime": m.runtime,
        "peak_mb": round(m.peak_rss_bytes / MB, 1),
        "before_models_mb": round(before / MB, 1),
        "models_mb": round((m.models_rss_bytes or 0) / MB, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, help="also measure every .tflite/.onnx in this folder together")
    parser.add_argument("--limit-mb", type=float, default=100.0, help="fail when a peak is above this (default 100)")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgeprune-memory-") as tmp:
        made = default_artifacts(Path(tmp))
        cases = {
            "default tflite fp32": measure([made["tflite"]], args.runs),
            "default tflite + onnx fp32 (both runtimes)": measure([made["tflite"], made["onnx"]], args.runs),
        }
    if args.artifacts:
        found = sorted(p for p in args.artifacts.iterdir() if p.suffix in (".tflite", ".onnx"))
        cases[f"every artifact of {args.artifacts}"] = measure(found, args.runs)
    failed = [name for name, c in cases.items() if c["peak_mb"] > args.limit_mb]
    out = ROOT / "build" / "bench" / "runner_memory.json"
    write_json(out, {"limit_mb": args.limit_mb, "cases": cases, "passed": not failed})
    for name, c in cases.items():
        print(f"{name:<50} peak {c['peak_mb']:6.1f} MB  (runtimes imported {c['before_models_mb']:.1f} MB,"
              f" models +{c['models_mb']:.1f} MB)")  # fmt: skip
    print(f"wrote {out}" + (f"; over {args.limit_mb:g} MB: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
