"""Time of the sensitivity scan of the default model, as `edgeprune sensitivity` runs it (uncached): CPU seconds
and wall seconds, with the machine's load average beside them (wall time on a shared machine says little alone).

The trained baseline comes from $EDGEPRUNE_CACHE (trained once if missing, not timed). Writes
build/bench/scan_time.json.
Usage: python benchmarks/scan_time.py [--threads 1] [--round-to 1] [--out build/bench]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")

from edgeprune.atomic import write_json
from edgeprune.baseline import load_baseline
from edgeprune.data import calibration_samples, choosing_samples, load_data
from edgeprune.sensitivity import ScanOptions
from edgeprune.sensitivity.scan import scan
from edgeprune.versions import versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--round-to", type=int, default=1, help="1: what `edgeprune sensitivity` scans by default")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", default="build/bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data("mnist5k")
    base = load_baseline("edgeprune:default", data)
    options = ScanOptions(samples=args.samples, round_to=args.round_to)
    x, y = choosing_samples(data, options.samples)
    calibration = calibration_samples(data, options.recalibrate)
    load_before = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    result = scan(base.model, x, y, options, calibration=calibration)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    record = {
        "model": "edgeprune:default",
        "data": "mnist5k",
        "samples": result.samples,
        "groups": len(result.groups),
        "ratios": list(result.ratios),
        "blocks": len(result.blocks),
        "round_to": args.round_to,
        "threads": args.threads,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        "versions": versions(),
    }
    out = Path(args.out) / "scan_time.json"
    write_json(out, record)
    print(
        f"scan of {record['groups']} groups x {len(result.ratios)} ratios + {record['blocks']} blocks on"
        f" {result.samples} samples: {cpu:.1f} s CPU, {wall:.1f} s wall ({args.threads} thread(s), load"
        f" {load_before:.1f}); wrote {out}"
    )


if __name__ == "__main__":
    main()
