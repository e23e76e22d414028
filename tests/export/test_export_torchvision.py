"""Pruned torchvision mobilenet_v2 and resnet18 (random weights, 1x3x64x64): ONNX and TFLite fp32 within
the parity bound; TFLite int8 checked for agreement with fp32 (accuracy is meaningless on random weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgeprune.export import check_int8_accuracy, export_model


def _pruned(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    import torchvision

    from edgeprune.models.init import make_non_degenerate
    from edgeprune.prune import apply_plan, make_plan

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10).eval()
    example = torch.randn(1, 3, 64, 64)
    make_non_degenerate(model, seed=0, example=example)  # every branch carries signal into the parity check
    apply_plan(model, make_plan(model, example, 0.3), example)
    return model.eval(), example


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_pruned_torchvision_exports(tmp_path: Path, name: str):
    model, example = _pruned(name)
    gen = torch.Generator().manual_seed(1)
    samples = torch.randn(16, 3, 64, 64, generator=gen)
    for fmt in ("onnx", "tflite"):
        art = export_model(model, example, tmp_path / f"{name}.{fmt}", fmt, samples=samples)
        assert art.metadata["verification"]["rel_err"] <= 1e-4
    fp32 = art  # the TFLite fp32 file is the int8 model's reference
    calibration = torch.randn(32, 3, 64, 64, generator=gen)
    int8 = export_model(
        model, example, tmp_path / f"{name}_int8.tflite", "tflite", "int8", samples=samples, calibration=calibration
    )
    report = check_int8_accuracy(int8, fp32, samples)
    assert report.top1_agreement >= 97.0 and int8.metadata["verification"]["int8"]["passed"]
    assert int8.size_bytes < fp32.size_bytes / 2
