"""Coverage check over torchvision's classification zoo: analyze, prune 30%, drop a block, export ONNX."""

from __future__ import annotations

import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

ZOO: dict[str, list[int]] = {
    "resnet18": [1, 3, 64, 64],
    "resnet50": [1, 3, 64, 64],
    "mobilenet_v2": [1, 3, 64, 64],
    "mobilenet_v3_small": [1, 3, 64, 64],
    "mobilenet_v3_large": [1, 3, 64, 64],
    "efficientnet_b0": [1, 3, 64, 64],
    "shufflenet_v2_x1_0": [1, 3, 64, 64],
    "squeezenet1_1": [1, 3, 64, 64],
    "regnet_x_400mf": [1, 3, 64, 64],
    "mnasnet1_0": [1, 3, 64, 64],
    "densenet121": [1, 3, 64, 64],
    "convnext_tiny": [1, 3, 64, 64],
    "vit_b_16": [1, 3, 224, 224],
    "googlenet": [1, 3, 64, 64],
}


def _pick_block(blocks: list[dict[str, Any]]) -> list[str]:
    """The first residual block (else the first shape-preserving layer), plus the first residual branch
    (``"block:branch"``) of another block where the model has any."""
    residual = [b["path"] for b in blocks if b["kind"] == "residual"]
    rest = [b["path"] for b in blocks if b["kind"] != "branch"]
    picked = (residual or rest)[:1]
    branches = [b["path"] for b in blocks if b["kind"] == "branch" and b["path"].partition(":")[0] not in picked]
    return picked + branches[:1]


def _export_onnx(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)


def check_arch(name: str, ratio: float = 0.3, onnx: bool = True) -> dict[str, Any]:
    """Run the coverage steps on ``torchvision:<name>``; returns a row with ``passed`` and a ``reason``."""
    from edgeprune.graph.analyze import analyze
    from edgeprune.models import ModelSpec, build_model
    from edgeprune.prune import apply_plan, count_macs_params, make_plan

    shape = ZOO.get(name, [1, 3, 64, 64])
    row: dict[str, Any] = {"arch": name, "input_shape": shape, "passed": False, "reason": "", "stage": "build"}
    start = time.perf_counter()
    try:
        torch.manual_seed(0)
        spec = ModelSpec(f"torchvision:{name}", num_classes=10, in_channels=shape[1])
        model = build_model(spec)
        x = torch.randn(*shape)
        row["stage"] = "analyze"
        report = analyze(model, x, name=spec.spec)
        row.update(groups=len(report.groups), blocks_found=len(report.blocks), analyze_s=report.seconds)
        with torch.no_grad():
            out_before = tuple(model(x).shape)
        macs_before, params_before = count_macs_params(model, x)
        row["stage"] = "plan"
        blocks = _pick_block(report.blocks)
        plan = make_plan(model, x, ratio, blocks=blocks, spec=spec)
        row["stage"] = "prune"
        apply_plan(model, plan, x)
        with torch.no_grad():
            out_after = tuple(model(x).shape)
        macs_after, params_after = count_macs_params(model, x)
        row.update(
            dropped=blocks,
            pruned_groups=len(plan.groups),
            heads=[f"{g.width}->{len(g.keep)}" for g in plan.groups if g.kind == "head"][:1],
            macs_before=macs_before,
            macs_after=macs_after,
            macs_ratio=round(macs_after / macs_before, 4),
            params_ratio=round(params_after / params_before, 4),
        )
        if out_after != out_before:
            raise AssertionError(f"output shape changed {out_before} -> {out_after}")
        if macs_after >= macs_before:
            raise AssertionError(f"MACs did not fall ({macs_before} -> {macs_after})")
        if onnx:
            row["stage"] = "onnx"
            with tempfile.TemporaryDirectory() as tmp:
                _export_onnx(model.eval(), x, Path(tmp) / f"{name}.onnx")
        row["passed"], row["stage"] = True, "done"
    except Exception as exc:  # the table records every failure with its reason
        row["reason"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:600] if str(exc) else ''}"
        row["trace"] = traceback.format_exc(limit=3)[-1500:]
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row
