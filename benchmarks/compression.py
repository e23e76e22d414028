"""Compression quality: accuracy after the same fine-tune budget at MACs budgets 0.5 / 0.3 / 0.2.

Methods, each pruned to the budget then fine-tuned identically (distillation from the unpruned model):
  tp-uniform     plain torch-pruning MetaPruner, uniform L2 magnitude (what users have today)
  uniform-<c>    one ratio for every group, channels chosen by edgeprune criterion <c>
  global-<c>     one score threshold over every group (planning/global_rank.py), criterion <c>: the base
                 criteria are mean-normalized per group; relative-<c> L2-normalizes each group (Molchanov et
                 al. 2017); global-lamp-<c> uses LAMP per group (Lee et al. 2021)
  planned        per-group ratios + blocks from the sensitivity scan (greedy marginal cost)

Settings: the default model on mnist5k, and an over-wide plain CNN on digits (8x8) where most MACs sit in
two wide convs. Selection (sensitivity, planning, early stopping) sees select+train only; accuracy is val.
Writes build/bench/compression.json and build/bench/compression.png and prints a markdown table.
Usage: PYTHONPATH=src python benchmarks/compression.py [--settings default,wide-digits] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from edgeprune.atomic import write_json, write_with
from edgeprune.baseline import load_baseline
from edgeprune.config import FinetuneConfig, training_recipe
from edgeprune.data import Data, choosing_samples, load_data, take
from edgeprune.finetune import evaluate, fit
from edgeprune.graph import output_layers
from edgeprune.importance import get_importance
from edgeprune.models import load_checkpoint, save_weights
from edgeprune.planning.budget import plan_to_budget
from edgeprune.planning.global_rank import prune_global
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.uniform import smallest_ratio_meeting
from edgeprune.prune import apply_plan, count_macs_params, make_plan
from edgeprune.sensitivity import ScanOptions, sensitivity
from edgeprune.versions import versions

OUT = Path("build/bench")
BUDGETS = (0.5, 0.3, 0.2)
CRITERIA = ("l1", "l2", "taylor", "activation", "hessian", "bn_scale", "random", "entropy")
GLOBAL = (
    "global-l2",
    "global-relative-l2",
    "global-lamp-l2",
    "global-taylor",
    "global-relative-taylor",
    "global-entropy",
    "global-relative-entropy",
)
SEED = 0


class WideCNN(nn.Module):
    """Over-wide plain CNN for 8x8 digits: 64-128-128 convs + 256-unit hidden layer (about 7.5 MMACs)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(
            block(in_channels, 64), block(64, 128), nn.MaxPool2d(2), block(128, 128), nn.MaxPool2d(2)
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4, 256), nn.ReLU())
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.features(x)))


def _wide_digits(epochs: int = 30) -> tuple[nn.Module, Data]:
    data = load_data("digits")
    torch.manual_seed(SEED)
    model = WideCNN(data.num_classes, data.input_shape[0])
    tag = hashlib.sha256(repr(model).encode() + repr(data.describe()).encode() + str(epochs).encode()).hexdigest()[:12]
    path = Path("build/models") / f"bench-widecnn-digits-{tag}.safetensors"
    if path.is_file():
        return load_checkpoint(model, path).eval(), data
    fit(model, data, training_recipe(epochs, SEED), description="train WideCNN on digits")
    save_weights(model, path)
    return model.eval(), data


def _default() -> tuple[nn.Module, Data]:
    data = load_data("mnist5k")
    model = load_baseline("edgeprune:default", data, train_epochs=12).model
    return model.eval(), data


SETTINGS: dict[str, Callable[[], tuple[nn.Module, Data]]] = {"default": _default, "wide-digits": _wide_digits}


def tp_uniform_copy(model: nn.Module, example: torch.Tensor, ratio: float) -> tuple[nn.Module, int]:
    """Plain torch-pruning: MetaPruner, uniform ratio, L2 magnitude, classifier ignored (their README recipe)."""
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    heads = [pruned.get_submodule(n) for n in output_layers(pruned, example)]
    importance = tp.importance.MagnitudeImportance(p=2)
    tp.pruner.MetaPruner(pruned, example, importance=importance, pruning_ratio=ratio, ignored_layers=heads).step()
    return pruned, count_macs_params(pruned, example)[0]


def uniform_with(model: nn.Module, example: torch.Tensor, criterion: object, budget_macs: int) -> nn.Module:
    """Bisect one ratio for every group (edgeprune make_plan with ``criterion``) to the MACs budget."""

    def prune_at(ratio: float) -> tuple[nn.Module, int]:
        plan = make_plan(model, example, ratio, importance=criterion)
        pruned = apply_plan(copy.deepcopy(model), plan, example)
        return pruned, count_macs_params(pruned, example)[0]

    return smallest_ratio_meeting(prune_at, budget_macs)[1]


def run_setting(
    name: str, methods: list[str], epochs: int, samples: int, on_row: Callable[[dict], None] = lambda r: None
) -> dict:
    torch.manual_seed(SEED)
    model, data = SETTINGS[name]()
    example = take(data.select, 1)[0].clone()
    base_macs, base_params = count_macs_params(model, example)
    base_acc, _ = evaluate(model, data.val)
    xs, ys = choosing_samples(data, min(samples, len(data.select) + len(data.train)))
    start = time.perf_counter()
    sens = sensitivity(model, data, ScanOptions(samples=len(xs)), name=name) if "planned" in methods else None
    sens_s = round(time.perf_counter() - start, 2)
    scan = f"; sensitivity {sens.seconds}s (cache read {sens_s}s)" if sens is not None else ""
    print(f"[{name}] base val {base_acc:.2f}%, {base_macs:,} MACs{scan}")
    criteria = {c: get_importance(c, model, xs, ys) for c in CRITERIA if f"uniform-{c}" in methods}
    for method in (m for m in methods if m.startswith("global-")):
        criterion = method.removeprefix("global-")
        if criterion.startswith("lamp-"):
            base = criterion.removeprefix("lamp-")
            criteria[method] = get_importance(f"relative-{base}", model, xs, ys, norm="lamp")
        else:
            criteria[method] = get_importance(criterion, model, xs, ys)
    cfg = FinetuneConfig(epochs=epochs, seed=SEED)
    rows = []
    for budget in BUDGETS:
        target = int(budget * base_macs)
        for method in methods:
            t0 = time.perf_counter()
            if method == "tp-uniform":
                pruned = smallest_ratio_meeting(lambda r: tp_uniform_copy(model, example, r), target)[1]
            elif method == "planned":
                pruned = plan_to_budget(
                    model, example, sens, PlanOptions(budget=budget), "magnitude", samples=(xs, ys)
                ).model
            elif method.startswith("global-"):
                pruned = prune_global(model, example, target, importance=criteria[method]).model
            else:
                pruned = uniform_with(model, example, criteria[method.removeprefix("uniform-")], target)
            macs, params = count_macs_params(pruned, example)
            acc0, _ = evaluate(pruned, data.val)
            fit(pruned, data, cfg, teacher=copy.deepcopy(model), description=f"{name} {method} {budget}")
            acc, _ = evaluate(pruned, data.val)
            row = {
                "setting": name,
                "budget": budget,
                "method": method,
                "macs_fraction": round(macs / base_macs, 4),
                "params_fraction": round(params / base_params, 4),
                "val_acc_before_ft": round(acc0, 2),
                "val_acc": round(acc, 2),
                "delta_pt": round(acc - base_acc, 2),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            rows.append(row)
            on_row(row)
            print(
                f"  {budget:.1f} {method:<18} {row['macs_fraction']:.3f}x MACs  val {acc:.2f}% ({acc - base_acc:+.2f})"
            )
    return {
        "setting": name,
        "data": data.describe(),
        "base": {"val_acc": round(base_acc, 2), "macs": base_macs, "params": base_params},
        "sensitivity": {"seconds": sens.seconds, "samples": sens.samples, "estimate": sens.estimate} if sens else None,
        "rows": rows,
    }


def markdown(results: list[dict], methods: list[str]) -> str:
    lines = []
    for res in results:
        lines.append(f"\n**{res['setting']}** (unpruned val {res['base']['val_acc']:.2f}%)\n")
        lines.append("| method | " + " | ".join(f"MACs {b}" for b in BUDGETS) + " |")
        lines.append("|---|" + "---|" * len(BUDGETS))
        for m in methods:
            cells = []
            for b in BUDGETS:
                r = next((r for r in res["rows"] if r["method"] == m and r["budget"] == b), None)
                cells.append(f"{r['val_acc']:.2f} ({r['delta_pt']:+.2f}) @{r['macs_fraction']:.2f}x" if r else "-")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        methods = list(dict.fromkeys(r["method"] for r in res["rows"]))
        for m in methods:
            rs = sorted((r for r in res["rows"] if r["method"] == m), key=lambda r: r["macs_fraction"])
            bold = m in ("planned", "tp-uniform")
            ax.plot(
                [r["macs_fraction"] for r in rs],
                [r["val_acc"] for r in rs],
                marker="o",
                label=m,
                lw=2.4 if bold else 1.0,
                alpha=1.0 if bold else 0.6,
            )
        ax.axhline(res["base"]["val_acc"], color="gray", ls=":", label="unpruned")
        ax.set_xlabel("MACs fraction kept")
        ax.set_ylabel("val top-1 after fine-tuning (%)")
        ax.set_title(res["setting"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="default,wide-digits")
    parser.add_argument("--methods", default="", help="comma list (default: all)")
    parser.add_argument("--quick", action="store_true", help="tp-uniform, uniform-l2 and planned only")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tune epochs, the same for every method")
    parser.add_argument("--samples", type=int, default=1000, help="choosing samples for sensitivity/criteria")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a busy machine)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = ["tp-uniform", *(f"uniform-{c}" for c in CRITERIA), *GLOBAL, "planned"]
    if args.quick:
        methods = ["tp-uniform", "uniform-l2", "planned"]
    if args.methods:
        methods = args.methods.split(",")
    out = Path(args.out)
    partial: list[dict] = []

    def on_row(row: dict) -> None:  # keep partial results on disk: the full run takes a while on 2 cores
        partial.append(row)
        write_json(out / "compression.partial.json", partial)

    results = [run_setting(s, methods, args.epochs, args.samples, on_row) for s in args.settings.split(",")]
    write_json(
        out / "compression.json",
        {
            "budgets": list(BUDGETS),
            "finetune": FinetuneConfig(epochs=args.epochs, seed=SEED).__dict__,
            "seed": SEED,
            "versions": versions(),
            "results": results,
        },
    )
    plot(results, out / "compression.png")
    print(markdown(results, methods))
    print(f"\nwrote {out / 'compression.json'} and {out / 'compression.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
