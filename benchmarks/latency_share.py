"""How far can latency planning beat MACs? Per prunable group, the share of the network's latency that cutting
half its channels removes (from the per-unit latency tables of the target) against the share of MACs it removes.

A group whose latency share exceeds its MACs share "pays off" more than its MACs say; speedup / MACs reduction
above 1.0 needs the plan's cuts to sit mostly on such groups. The script also builds the most favourable plan the
tables allow (cut the groups in order of latency share / MACs share, each down to 10% kept, until the tables'
latency halves): an upper bound on the ratio a 2x-latency plan can reach by the tables, whatever its damage.

Reads the latency tables from the cache `latency_aware.py` fills (measures what is missing). torchvision models,
random weights, 1x3x224x224, round_to 16, 1 thread on core 1. Writes build/bench/latency_share.json.
Usage: PYTHONPATH=src python benchmarks/latency_share.py [--models mobilenet_v2,resnet18] [--runtime litert]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from edgeprune.atomic import write_json
from edgeprune.errors import run_script
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.model import LatencyModel
from edgeprune.latency.table import build_tables
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.models import ModelSpec, build_model
from edgeprune.planning.costmodel import CostModel
from edgeprune.prune.rounding import keep_count
from edgeprune.versions import versions

OUT = Path("build/bench/latency_share.json")
ROUND_TO = 16
SEED = 0


def shares(name: str, runtime: str, cache_dir: str) -> dict:
    """Per-group latency and MACs shares at a half cut, and the most latency-per-MAC 2x plan the tables allow."""
    torch.manual_seed(SEED)
    model = build_model(ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3)).eval()
    example = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
    target = LatencyTarget(runtime, 1, cores=(1,), statistic="min", across="min")
    groups = prunable_groups(model, example, [])
    units = find_units(model, example, groups)
    cache = LatencyCache(cache_dir, target.fingerprint(), target.fingerprint_key())
    tables = build_tables(model, units, target, ROUND_TO, 0.9, cache, 1800.0, 0)
    latency = LatencyModel(tables, groups, subtract_io=False)
    macs = CostModel(model, example, [(g.root, g.members, g.consumers) for g in groups])
    full = latency.raw_ms({}, ())

    def counts(kept: dict[str, float]) -> dict[str, int]:
        by_root = {g.root: g for g in groups}
        return {r: keep_count(by_root[r].width, by_root[r].channel_groups, 1.0 - f, ROUND_TO) for r, f in kept.items()}

    rows = []
    for g in groups:
        lat = 1.0 - latency.raw_ms(counts({g.root: 0.5}), ()) / full
        mac = 1.0 - macs.fraction({g.root: 0.5}, [], "macs")
        rows.append({"group": g.root, "width": g.width, "latency_share": round(lat, 4), "macs_share": round(mac, 4),
                     "ratio": round(lat / mac, 3) if mac > 0 else None})  # fmt: skip
    kept: dict[str, float] = {}
    lat_fraction = 1.0
    for row in sorted((r for r in rows if r["ratio"]), key=lambda r: -r["ratio"]):
        for step in range(19, 1, -1):
            kept[row["group"]] = step / 20
            lat_fraction = latency.raw_ms(counts(kept), ()) / full
            if lat_fraction <= 0.5:
                break
        if lat_fraction <= 0.5:
            break
    mac_fraction = macs.fraction(kept, [], "macs")
    return {
        "model": name,
        "runtime": runtime,
        "tables": {"micro_models": tables.stats.micro_models, "measured_now": tables.stats.measured},
        "groups": sorted(rows, key=lambda r: r["ratio"] or 0.0),
        "bound_plan": {
            "groups_cut": len(kept),
            "kept": kept,
            "latency_fraction": round(lat_fraction, 4),
            "macs_fraction": round(mac_fraction, 4),
            "speedup_over_macs_reduction": round(mac_fraction / lat_fraction, 3),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,resnet18")
    parser.add_argument("--runtime", default="litert", choices=["litert", "onnxruntime"])
    parser.add_argument("--cache-dir", default="build/cache/latency")
    args = parser.parse_args()
    results = []
    for name in args.models.split(","):
        result = shares(name, args.runtime, args.cache_dir)
        ratios = [r["ratio"] for r in result["groups"] if r["ratio"]]
        bound = result["bound_plan"]
        print(f"{name} / {args.runtime}: per-group latency share / MACs share at a half cut {min(ratios):.2f}-"
              f"{max(ratios):.2f}; most favourable 2x plan by the tables: speedup / MACs reduction "
              f"{bound['speedup_over_macs_reduction']:.3f} ({bound['groups_cut']} groups cut)")  # fmt: skip
        results.append(result)
    write_json(OUT, {"benchmark": "latency_share", "round_to": ROUND_TO, "seed": SEED, "input": [1, 3, 224, 224],
                     "results": results, "versions": versions()})  # fmt: skip
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    run_script(main)
