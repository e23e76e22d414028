"""Do plans tell the truth? Predicted metric (the planner's, on the select split) vs applied metric (the plan
replayed on the unpruned weights with the documented BatchNorm step, scored on validation), before fine-tuning.

The default model on mnist5k at 0.5x and 0.3x MACs, both strategies, round_to 1 and 16. The planner never sees
validation; the applied figure is what `edgeprune prune --plan` gives. Writes build/bench/plan_truth.json.
Usage: PYTHONPATH=src python benchmarks/plan_truth.py [--budgets 0.5,0.3] [--methods sensitivity,uniform]
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import torch

from edgeprune.atomic import write_json
from edgeprune.baseline import load_baseline
from edgeprune.config import FinetuneConfig, PruneConfig
from edgeprune.data import calibration_samples, load_data
from edgeprune.errors import run_script
from edgeprune.pipeline.strategies import Request, prune_to_budget
from edgeprune.prune import apply_plan
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import CLASSIFICATION, evaluate
from edgeprune.versions import versions

OUT = Path("build/bench/plan_truth.json")
TOLERANCE_PT = 1.0


def applied_metrics(baseline: torch.nn.Module, plan, data, recalibrate: int, select) -> tuple[float, float]:
    """Replay ``plan`` on a copy of the unpruned model the way `edgeprune prune` does; score it on the select
    samples the prediction used and on validation."""
    model = apply_plan(copy.deepcopy(baseline), plan, data.example())
    if recalibrate:
        recalibrate_bn(model, calibration_samples(data, recalibrate))
    return evaluate(model, *select)[0], evaluate(model, data.val)[0]


def sampling_margin(p1: float, n1: int, p2: float, n2: int, z: float = 1.96) -> float:
    """95% margin (percentage points) of the difference of two independent accuracy estimates (normal
    approximation to the binomial; each proportion clamped so a perfect score still has a margin)."""

    def variance(p: float, n: int) -> float:
        q = min(max(p / 100.0, 0.5 / n), 1.0 - 0.5 / n)
        return q * (1.0 - q) / n

    return 100.0 * z * math.sqrt(variance(p1, n1) + variance(p2, n2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="0.5,0.3")
    parser.add_argument("--methods", default="sensitivity,uniform")
    parser.add_argument("--round-to", default="1,16")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_data("mnist5k")
    base = load_baseline("edgeprune:default", data)
    base_val = evaluate(base.model, data.val)[0]
    rows = []
    for method in args.methods.split(","):
        for round_to in (int(r) for r in args.round_to.split(",")):
            for budget in (float(b) for b in args.budgets.split(",")):
                cfg = PruneConfig(macs=budget, method=method, round_to=round_to)
                start = time.perf_counter()
                req = Request(
                    base.model, data.example(), base.spec.to_dict(), cfg, data, CLASSIFICATION, "classification"
                )
                planned = prune_to_budget(req, FinetuneConfig())
                select = req.holdout()
                on_select, applied = applied_metrics(base.model, planned.plan, data, cfg.recalibrate, select)
                margin = sampling_margin(planned.predicted, len(select[0]), applied, len(data.val))
                row = {
                    "method": method,
                    "round_to": round_to,
                    "budget": budget,
                    "reached": round(planned.fraction, 4),
                    "predicted_select": round(planned.predicted, 2),
                    "applied_select": round(on_select, 2),
                    "reproduction_error_pt": round(on_select - planned.predicted, 2),
                    "within": abs(on_select - planned.predicted) <= TOLERANCE_PT,
                    "applied_val": round(applied, 2),
                    "error_pt": round(applied - planned.predicted, 2),
                    "sampling_margin_pt": round(margin, 2),
                    "within_sampling": abs(applied - planned.predicted) <= margin,
                    # the same comparison as drops from the unpruned model on each split (select and val differ
                    # for the unpruned model too; this takes that split gap out)
                    "base_select": round(planned.base_metric, 2),
                    "predicted_drop": round(planned.base_metric - planned.predicted, 2),
                    "applied_drop": round(base_val - applied, 2),
                    "drop_error_pt": round((planned.base_metric - planned.predicted) - (base_val - applied), 2),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                rows.append(row)
                print(
                    f"{method:<12} round_to {round_to:<3} budget {budget:.2f} -> {row['reached']:.3f}x:"
                    f" predicted {row['predicted_select']:.2f}% (select); applied {row['applied_select']:.2f}%"
                    f" (select, {row['reproduction_error_pt']:+.2f} pt), {row['applied_val']:.2f}% (val,"
                    f" {row['error_pt']:+.2f} pt, sampling margin +-{margin:.2f})",
                    flush=True,
                )
    write_json(
        OUT,
        {
            "benchmark": "plan_truth",
            "model": "edgeprune:default",
            "data": data.describe(),
            "baseline_val": round(base_val, 2),
            "tolerance_pt": TOLERANCE_PT,
            "rows": rows,
            "select_samples": len(req.holdout()[0]),
            "val_samples": len(data.val),
            "seed": 0,
            "all_within": all(r["within"] for r in rows),
            "all_within_sampling": all(r["within_sampling"] for r in rows),
            "drops_within": all(abs(r["drop_error_pt"]) <= TOLERANCE_PT for r in rows),
            "versions": versions(),
        },
    )
    print(f"wrote {OUT}")
    return 0 if all(r["within"] and r["within_sampling"] for r in rows) else 1


if __name__ == "__main__":
    run_script(main)
