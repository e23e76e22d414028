"""Exporter registry keyed by format name."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact

EXPORTERS: dict[str, str] = {"onnx": "edgeprune.export.onnx", "tflite": "edgeprune.export.tflite"}


def known_formats() -> list[str]:
    return sorted(EXPORTERS)


def export_model(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    fmt: str,
    precision: str = "fp32",
    **options: object,
) -> Artifact:
    """Export ``model`` (put in eval mode) to ``path`` in format ``fmt``; returns the runnable artifact."""
    module_name = EXPORTERS.get(fmt)
    if module_name is None:
        raise EdgepruneError(f"unknown export format '{fmt}'; known: {known_formats()}")
    exporter = importlib.import_module(module_name)
    model = model.eval()
    bad_bn = [
        n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None
    ]
    if bad_bn:
        raise EdgepruneError(
            f"BatchNorm module(s) {bad_bn} have no running statistics (track_running_stats=False); converters need them"
        )
    return exporter.export(model, example, Path(path), precision=precision, **options)
