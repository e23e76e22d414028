"""round_to on narrow models (issue 24, item 6): the MACs reached for a 0.5x budget at round_to 16, and the accuracy
after fine-tuning, with round_to alone (``fill = 0``: how planning worked before) and with narrow groups falling
back to finer steps (the default, ``fill = 0.95``).

Two models of the issue: conv layers 32 and 64 wide, and 24 and 48 wide, on the 8x8 digits (seeded split: train /
select / val). Planning and early stopping see train and select only; accuracies are on val. Writes
build/bench/narrow_round_to.json.
Usage: python benchmarks/narrow_round_to.py [--epochs 6] [--train-epochs 12] [--threads 1] [--out build/bench]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch
from torch import nn

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")

from edgeprune.atomic import write_json
from edgeprune.config import FinetuneConfig
from edgeprune.data import load_data, take
from edgeprune.finetune import fit
from edgeprune.planning import PlanOptions, uniform_to_budget
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import evaluate
from edgeprune.versions import versions

BUDGET, ROUND_TO, SEED = 0.5, 16, 0


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def narrow(a: int, b: int) -> nn.Module:
    """Two conv layers ``a`` and ``b`` wide, pooled into a 10-class Linear (tests/planning/planning_models.py)."""
    return nn.Sequential(_conv_bn(1, a), _conv_bn(a, b), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(b, 10))


def one(name: str, a: int, b: int, data, args) -> dict:
    torch.manual_seed(SEED)
    base = narrow(a, b)
    fit(base, data, FinetuneConfig(epochs=args.train_epochs, lr=3e-3, distill=False, seed=SEED), description="train")
    base_acc = evaluate(base, data.val)[0]
    example = data.example()
    holdout, calibration = take(data.select, 1000), take(data.train, 256)[0]
    row = {"model": name, "widths": [a, b], "unpruned_val": round(base_acc, 2)}
    for label, fill in (("round_to only", 0.0), ("finer steps for narrow groups", 0.95)):
        start = time.perf_counter()
        opts = PlanOptions(budget=BUDGET, round_to=ROUND_TO, fill=fill)
        planned = uniform_to_budget(base, example, opts, "magnitude", holdout, spec=None, calibration=calibration)
        plan_s = time.perf_counter() - start
        pruned = copy.deepcopy(planned.model)
        recalibrate_bn(pruned, calibration)
        tuned = FinetuneConfig(epochs=args.epochs, lr=2e-3, seed=SEED)
        fit(pruned, data, tuned, teacher=copy.deepcopy(base), description="fine-tune")
        row[label] = {
            "macs_fraction": round(planned.fraction, 4),
            "widths": {g.root: [g.width, len(g.keep), g.round_to or ROUND_TO] for g in planned.plan.groups},
            "val": round(evaluate(pruned, data.val)[0], 2),
            "plan_s": round(plan_s, 2),
        }
        print(f"{name} {label}: {planned.fraction:.3f}x MACs, val {row[label]['val']:.2f}% (unpruned {base_acc:.2f}%)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="fine-tune epochs after pruning")
    parser.add_argument("--train-epochs", type=int, default=12, help="epochs training the unpruned model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="build/bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data("digits")
    rows = [one("32/64 wide", 32, 64, data, args), one("24/48 wide", 24, 48, data, args)]
    out = Path(args.out) / "narrow_round_to.json"
    write_json(
        out,
        {
            "budget": {"kind": "macs", "fraction": BUDGET},
            "round_to": ROUND_TO,
            "data": data.describe(),
            "seed": SEED,
            "epochs": {"train": args.train_epochs, "finetune": args.epochs},
            "threads": args.threads,
            "rows": rows,
            "versions": versions(),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
