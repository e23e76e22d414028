"""torchvision's single-stage detectors through the detection task: their own loss trains them, their own
post-processing feeds pycocotools' mAP, and the pruned export form keeps parity on every head output."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from edgeprune.config import FinetuneConfig
from edgeprune.data import load_data
from edgeprune.finetune import fit
from edgeprune.models import ModelSpec, build_model
from edgeprune.models.init import make_non_degenerate
from edgeprune.prune import apply_plan, make_plan
from edgeprune.task import TaskSpec, evaluate, resolve_task


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ssdlite320_mobilenet_v3_large", "fcos_resnet50_fpn"])
def test_torchvision_detector_trains_scores_and_prunes(name: str, tmp_path) -> None:
    data = load_data("detect-digits:128")
    data = dataclasses.replace(
        data, train=data.train.subset(torch.arange(64)), select=data.select.subset(torch.arange(16)),
        val=data.val.subset(torch.arange(16)),
    )  # fmt: skip
    task = resolve_task(TaskSpec(kind="detection"))
    torch.manual_seed(0)
    model = build_model(ModelSpec(f"torchvision:{name}", num_classes=10, in_channels=3))
    x = data.example()
    task.see(model, x)
    result = fit(model, data, FinetuneConfig(epochs=3, lr=1e-3, batch_size=16, distill=False, seed=0), task=task)
    metric, _ = evaluate(model, data.select, task=task)
    losses = [h["train_loss"] for h in result.history]
    # the detector's own loss falls while it trains (16 select images scored in eval mode, with running statistics
    # from 64 training images, went either way between runs)
    assert losses[-1] < losses[0] and 0.0 <= metric <= 100.0

    from edgeprune.export import export_model

    make_non_degenerate(model, seed=0, example=x)  # every branch carries signal in the parity check
    pruned = apply_plan(copy.deepcopy(model), make_plan(model, x, 0.3, round_to=8), x)
    samples = torch.rand(2, *x.shape[1:])
    for fmt in ("onnx", "tflite"):
        art = export_model(pruned, x, tmp_path / f"{name}.{fmt}", fmt, samples=samples)
        assert art.metadata["verification"]["rel_err"] <= 1e-4
