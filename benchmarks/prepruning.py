"""Prune before training vs after, at the same total epochs and the same final MACs (default model, mnist5k).

after   the cached 12-epoch baseline, pruned with one uniform ratio (magnitude, what deploy does by default)
        to the budget, fine-tuned 6 epochs with distillation from the unpruned model (FinetuneConfig()).
before  the same architecture freshly initialized (seeded), pruned at init to the same widths (same uniform
        ratio, so the same MACs) by SNIP |g*w| or uniform (first channels), trained 12 + 6 = 18 epochs from
        scratch with the baseline recipe. No teacher: pre-pruning never trains the dense model.
Training compute is reported as sample-forward MACs x epochs, relative to training the dense model 18 epochs.
Selection (best epoch) uses the select split; accuracy is val. Writes build/bench/prepruning.json.
Usage: PYTHONPATH=src python benchmarks/prepruning.py [--budgets 0.5,0.3,0.2] [--seeds 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")

from edgeprune.atomic import write_json
from edgeprune.baseline import load_baseline
from edgeprune.config import FinetuneConfig
from edgeprune.data import load_data, take
from edgeprune.finetune import evaluate, fit
from edgeprune.importance import get_importance
from edgeprune.models import ModelSpec
from edgeprune.planning.prepruning import prune_before_training
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import count_macs_params
from edgeprune.versions import versions

OUT = Path("build/bench")
SPEC = ModelSpec("edgeprune:default")
TRAIN_EPOCHS = 12
FINETUNE_EPOCHS = 6


def post_pruning(base: torch.nn.Module, data, budget: float, seed: int) -> dict:
    example = take(data.select, 1)[0].clone()
    base_macs, _ = count_macs_params(base, example)
    criterion = get_importance("magnitude")

    def prune_at(ratio: float):
        model, plan, macs = prune_uniform(base, example, ratio, criterion, 1, SPEC)
        return (model, plan), macs

    ratio, (model, _), macs = smallest_ratio_meeting(prune_at, int(budget * base_macs))
    fit(model, data, FinetuneConfig(epochs=FINETUNE_EPOCHS, seed=seed), teacher=copy.deepcopy(base))
    compute = (TRAIN_EPOCHS * base_macs + FINETUNE_EPOCHS * macs) / ((TRAIN_EPOCHS + FINETUNE_EPOCHS) * base_macs)
    return {"macs": macs, "ratio": ratio, "val_acc": evaluate(model, data.val)[0], "compute": compute}


def pre_pruning(data, budget: float, score: str, seed: int) -> dict:
    pre = prune_before_training(SPEC, data, budget, TRAIN_EPOCHS + FINETUNE_EPOCHS, score, seed=seed)
    return {
        "macs": pre.macs,
        "ratio": pre.ratio,
        "val_acc": evaluate(pre.model, data.val)[0],
        "compute": pre.macs / pre.base_macs,
    }


def run(budgets: list[float], seeds: int, out: Path) -> dict:
    data = load_data("mnist5k")
    base = load_baseline(SPEC, data, train_epochs=TRAIN_EPOCHS).model
    base_acc = evaluate(base, data.val)[0]
    base_macs, _ = count_macs_params(base, take(data.select, 1)[0])
    rows = []
    for budget in budgets:
        for seed in range(seeds):
            for method in ("after (magnitude)", "before (snip)", "before (uniform)"):
                start = time.perf_counter()
                if method.startswith("after"):
                    res = post_pruning(base, data, budget, seed)
                else:
                    res = pre_pruning(data, budget, method.split("(")[1].rstrip(")"), seed)
                row = {
                    "budget": budget,
                    "seed": seed,
                    "method": method,
                    "macs_fraction": round(res["macs"] / base_macs, 4),
                    "val_acc": round(res["val_acc"], 2),
                    "delta_pt": round(res["val_acc"] - base_acc, 2),
                    "training_compute": round(res["compute"], 3),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                rows.append(row)
                print(
                    f"{budget} seed {seed} {method:<18} {row['macs_fraction']:.3f}x val {row['val_acc']:.2f}",
                    flush=True,
                )
    result = {
        "model": SPEC.spec,
        "dataset": data.describe(),
        "baseline": {"val_acc": round(base_acc, 2), "macs": base_macs, "epochs": TRAIN_EPOCHS},
        "total_epochs": TRAIN_EPOCHS + FINETUNE_EPOCHS,
        "rows": rows,
        "versions": versions(),
    }
    write_json(out / "prepruning.json", result)
    return result


def markdown(res: dict) -> str:
    budgets = sorted({r["budget"] for r in res["rows"]}, reverse=True)
    methods = list(dict.fromkeys(r["method"] for r in res["rows"]))
    lines = [f"unpruned: val {res['baseline']['val_acc']:.2f}%, {res['total_epochs']} epochs in total per method", ""]
    lines.append("| method | " + " | ".join(f"MACs {b}" for b in budgets) + " |")
    lines.append("|---|" + "---|" * len(budgets))
    for m in methods:
        cells = []
        for b in budgets:
            rs = [r for r in res["rows"] if r["method"] == m and r["budget"] == b]
            mean = sum(r["val_acc"] for r in rs) / len(rs)
            accs = "/".join(f"{r['val_acc']:.2f}" for r in rs)
            cells.append(f"{mean:.2f} ({accs}) @{rs[0]['macs_fraction']:.2f}x, compute {rs[0]['training_compute']:.2f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="0.5,0.3,0.2")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    res = run([float(b) for b in args.budgets.split(",")], args.seeds, Path(args.out))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
