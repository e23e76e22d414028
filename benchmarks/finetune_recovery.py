"""Recovered accuracy vs epochs, with and without distillation, for the default model pruned to 0.3x MACs.

Writes build/bench/finetune_recovery.json and .png. Model selection (best epoch) uses the select split;
the curves and the headline numbers are validation accuracy, measured after each epoch for reporting only.
Usage: python benchmarks/finetune_recovery.py [--epochs 8] [--macs 0.3] [--threads 1] [--out build/bench]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")

from edgeprune.atomic import write_json
from edgeprune.baseline import load_baseline
from edgeprune.config import FinetuneConfig
from edgeprune.data import load_data, take
from edgeprune.finetune import evaluate, fit
from edgeprune.planning.iterative import uniform_planner
from edgeprune.prune import apply_plan, count_macs_params
from edgeprune.versions import versions

WITHIN_PT = 0.5


class ValCurve:
    """Callback recording validation accuracy and elapsed time after every epoch (reporting only)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.start, self.points = x, y, time.perf_counter(), []

    def after_backward(self, model: nn.Module) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, model: nn.Module, record: dict[str, float]) -> None:
        elapsed = time.perf_counter() - self.start
        val_acc, _ = evaluate(model, self.x.to(next(model.parameters()).device), self.y.to(self.x.device))
        self.points.append({**record, "val_acc": val_acc, "elapsed_s": elapsed})


def first_within(points: list[dict[str, float]], target: float) -> dict[str, float] | None:
    """First epoch whose validation accuracy is within WITHIN_PT of ``target``."""
    return next((p for p in points if p["val_acc"] >= target - WITHIN_PT), None)


def plot(curves: dict[str, list[dict[str, float]]], base_acc: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        ax.plot([p["epoch"] for p in points], [p["val_acc"] for p in points], marker="o", label=name)
    ax.axhline(base_acc, color="k", linestyle="--", label=f"unpruned {base_acc:.2f}%")
    ax.axhline(base_acc - WITHIN_PT, color="gray", linestyle=":", label=f"unpruned - {WITHIN_PT} pt")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title("EdgeNet on MNIST-5k, pruned to 0.3x MACs")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--budgets", default="1,2,3,4", help="fine-tune budgets (epochs) of the schedule sweep")
    parser.add_argument("--macs", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy box)")
    parser.add_argument("--out", default="build/bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data("mnist5k")
    baseline = load_baseline("edgeprune:default", data, train_epochs=12)
    base, ckpt, spec = baseline.model, baseline.checkpoint, baseline.spec
    example = take(data.val, 1)[0].clone()
    base_macs, base_params = count_macs_params(base, example)
    base_acc, _ = evaluate(base, data.val)
    print(f"baseline {ckpt} ({baseline.source}): {base_macs:,} MACs, val {base_acc:.2f}%")

    t0 = time.perf_counter()
    plan = uniform_planner()(base, example, int(args.macs * base_macs), "magnitude")
    plan.model = spec.to_dict()
    pruned = apply_plan(copy.deepcopy(base), plan, example)
    prune_s = time.perf_counter() - t0
    macs, params = count_macs_params(pruned, example)
    pruned_acc, _ = evaluate(pruned, data.val)
    print(f"pruned: {macs:,} MACs ({macs / base_macs:.3f}x), val {pruned_acc:.2f}% before fine-tuning")

    curves: dict[str, list[dict[str, float]]] = {}
    runs: dict[str, Any] = {}
    for name, distill in (("distill", True), ("ce_only", False)):
        cfg = FinetuneConfig(epochs=args.epochs, distill=distill, seed=0)
        student = copy.deepcopy(pruned)
        curve = ValCurve(*take(data.val))
        result = fit(student, data, cfg, copy.deepcopy(base) if distill else None, name, callback=curve)
        final_acc, _ = evaluate(student, data.val)
        hit = first_within(curve.points, base_acc)
        curves[name] = curve.points
        runs[name] = {
            "config": cfg.__dict__,
            "final_val_acc": final_acc,
            "final_delta_pt": final_acc - base_acc,
            "best_epoch": result.best_epoch,
            "wall_s": result.wall_s,
            "first_epoch_within": hit["epoch"] if hit else None,
            "wall_s_to_within": hit["elapsed_s"] if hit else None,
            "curve": curve.points,
        }
        print(
            f"{name}: val {final_acc:.2f}% ({final_acc - base_acc:+.2f} pt) after {args.epochs} epochs,"
            f" {result.wall_s:.0f} s; within {WITHIN_PT} pt at epoch {hit['epoch'] if hit else 'never'}"
        )

    sweep = []
    for epochs in (int(e) for e in args.budgets.split(",") if e):
        for name, distill in (("distill", True), ("ce_only", False)):
            student = copy.deepcopy(pruned)
            cfg = FinetuneConfig(epochs=epochs, distill=distill, seed=0)
            result = fit(student, data, cfg, copy.deepcopy(base) if distill else None, f"{name} {epochs} ep")
            acc, _ = evaluate(student, data.val)
            sweep.append(
                {"run": name, "epochs": epochs, "val_acc": acc, "delta_pt": acc - base_acc, "wall_s": result.wall_s}
            )
            print(f"sweep {name} {epochs} epoch(s): val {acc:.2f}% ({acc - base_acc:+.2f} pt) in {result.wall_s:.0f} s")
    needed = {
        name: next(({"epochs": r["epochs"], "wall_s": r["wall_s"]} for r in sweep if r["run"] == name
                    and r["delta_pt"] >= -WITHIN_PT), None)
        for name in runs
    }  # fmt: skip

    out = Path(args.out)
    report = {
        "benchmark": "finetune_recovery",
        "model": spec.spec,
        "checkpoint": str(ckpt),
        "data": data.describe(),
        "seed": 0,
        "threads": args.threads,
        "baseline": {"macs": base_macs, "params": base_params, "val_acc": base_acc},
        "pruned": {
            "macs": macs,
            "params": params,
            "macs_fraction": macs / base_macs,
            "val_acc_before_finetune": pruned_acc,
            "prune_s": prune_s,
            "plan": plan.to_dict(),
        },
        "within_pt": WITHIN_PT,
        "epochs": args.epochs,
        "runs": runs,
        "sweep": sweep,
        "needed_to_get_within": needed,
        "versions": versions(),
    }
    write_json(out / "finetune_recovery.json", report)
    plot(curves, base_acc, out / "finetune_recovery.png")
    print(f"smallest schedule within {WITHIN_PT} pt of the unpruned model: {needed}")
    print(f"wrote {out / 'finetune_recovery.json'} and {out / 'finetune_recovery.png'}")


if __name__ == "__main__":
    main()
