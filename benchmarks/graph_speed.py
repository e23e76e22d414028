"""Analysis speed: edgeprune's ``analyze`` (groups verified by pruning, blocks, MACs) next to plain torch-pruning's
graph build plus one prune step, same model, same process, runs interleaved; medians of ``--repeats``.

The target (issue 17): resnet50's analysis within 2x of torch-pruning's build + step. Also times make_plan and
apply_plan (the planner's inner loop). Writes build/bench/graph_speed.json.
Usage: PYTHONPATH=src python benchmarks/graph_speed.py [--models resnet50,mobilenet_v2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch_pruning as tp

from edgeprune.atomic import write_json
from edgeprune.errors import run_script
from edgeprune.graph import analyze, output_layers
from edgeprune.graph import verify as verification
from edgeprune.models import ModelSpec, build_model
from edgeprune.prune import apply_plan, make_plan

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"resnet50": [1, 3, 224, 224], "mobilenet_v2": [1, 3, 224, 224], "vit_b_16": [1, 3, 224, 224]}


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def plain_torch_pruning(name: str, shape: list[int]) -> dict[str, float]:
    """DependencyGraph build, then one MetaPruner step at 30% uniform ignoring the classifier (their README)."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3)).eval()
    x = torch.randn(*shape)
    head = model.get_submodule(output_layers(model, x)[0])  # found outside the timed part
    _, build_s = _timed(lambda: tp.DependencyGraph().build_dependency(model, example_inputs=x, verbose=False))
    kwargs = {}
    if name.startswith("vit"):
        kwargs["num_heads"] = {m: m.num_heads for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention)}
    pruner = tp.pruner.MetaPruner(
        model,
        x,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=0.3,
        ignored_layers=[head],
        **kwargs,
    )
    _, step_s = _timed(pruner.step)
    return {"graph_s": build_s, "prune_s": step_s, "total_s": build_s + step_s}


def edgeprune_run(name: str, shape: list[int]) -> dict[str, float]:
    torch.manual_seed(0)
    spec = ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3)
    model = build_model(spec).eval()
    x = torch.randn(*shape)
    verification._CACHE.clear()  # a cold analysis: every group verified again
    report, analyze_s = _timed(lambda: analyze(model, x, name=spec.spec))
    plan, plan_s = _timed(lambda: make_plan(model, x, 0.3, spec=spec))
    _, apply_s = _timed(lambda: apply_plan(copy.deepcopy(model), plan, x))
    return {
        "analyze_s": analyze_s,
        "plan_s": plan_s,
        "apply_s": apply_s,
        "groups": len(report.groups),
        "verified": sum(g["verified"] for g in report.groups),
        "blocks": len(report.blocks),
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="resnet50")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "graph_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    rows = []
    for name in args.models.split(","):
        shape = MODELS.get(name, [1, 3, 224, 224])
        edgeprune_run(name, shape)  # warm-up: imports, allocator
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit both sides alike
            ours.append(edgeprune_run(name, shape))
            theirs.append(plain_torch_pruning(name, shape))
        row = {"model": name, "input_shape": shape, "edgeprune": _median(ours), "torch_pruning": _median(theirs)}
        row["analyze_over_tp_build_and_step"] = round(
            row["edgeprune"]["analyze_s"] / row["torch_pruning"]["total_s"], 3
        )
        print(
            f"{name}: analyze {row['edgeprune']['analyze_s']} s vs torch-pruning build + step "
            f"{row['torch_pruning']['total_s']} s -> ratio {row['analyze_over_tp_build_and_step']}",
            flush=True,
        )
        rows.append(row)
    meta = {
        "torch": torch.__version__,
        "torch_pruning": tp.__version__,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
    }
    write_json(args.out, {"meta": meta, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main)
