"""Analyze + prune wall time of edgeprune next to plain torch-pruning, same model, same run.

Writes build/bench/graph_speed.json. Usage: PYTHONPATH=src python benchmarks/graph_speed.py [--models resnet50]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import torch_pruning as tp

from edgeprune.atomic import write_json
from edgeprune.graph import analyze, output_layers
from edgeprune.models import ModelSpec, build_model
from edgeprune.prune import apply_plan, make_plan

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"resnet50": [1, 3, 224, 224], "mobilenet_v2": [1, 3, 224, 224], "vit_b_16": [1, 3, 224, 224]}


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 3)


def plain_torch_pruning(name: str, shape: list[int]) -> dict[str, float]:
    """DependencyGraph build + MetaPruner 30% uniform step, ignoring the classifier (their README recipe)."""
    model = build_model(ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3))
    x = torch.randn(*shape)
    head = model.get_submodule(output_layers(model, x)[0])  # found outside the timed part
    _, build_s = _timed(lambda: tp.DependencyGraph().build_dependency(model, example_inputs=x, verbose=False))
    kwargs = {}
    if name == "vit_b_16":
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
    return {"graph_s": build_s, "prune_s": step_s, "total_s": round(build_s + step_s, 3)}


def edgeprune_run(name: str, shape: list[int]) -> dict[str, float]:
    spec = ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3)
    model = build_model(spec)
    x = torch.randn(*shape)
    report, analyze_s = _timed(lambda: analyze(model, x, name=spec.spec))
    plan, plan_s = _timed(lambda: make_plan(model, x, 0.3, spec=spec))
    _, apply_s = _timed(lambda: apply_plan(model, plan, x))
    return {
        "analyze_s": analyze_s,
        "plan_s": plan_s,
        "apply_s": apply_s,
        "total_s": round(analyze_s + plan_s + apply_s, 3),
        "groups": len(report.groups),
        "blocks": len(report.blocks),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "graph_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    rows = []
    for name in args.models.split(","):
        shape = MODELS.get(name, [1, 3, 224, 224])
        row = {"model": name, "input_shape": shape, "edgeprune": edgeprune_run(name, shape)}
        row["torch_pruning"] = plain_torch_pruning(name, shape)
        print(name, row["edgeprune"], row["torch_pruning"], flush=True)
        rows.append(row)
    meta = {"torch": torch.__version__, "torch_pruning": tp.__version__, "threads": torch.get_num_threads()}
    write_json(args.out, {"meta": meta, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
