"""ONNX export through ``torch.onnx.export(..., dynamo=True)``, checked by ``onnx.checker``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.atomic import write_with
from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact
from edgeprune.logs import quiet


def export(model: nn.Module, example: torch.Tensor, path: Path, precision: str = "fp32", opset: int = 18) -> Artifact:
    """Write a single-file ONNX model (no external data) with input ``input`` and output ``logits``."""
    import onnx

    if precision != "fp32":
        raise EdgepruneError(
            f"ONNX export supports precision fp32, not '{precision}'; use the tflite format for {precision}"
        )
    try:
        with quiet():
            program = torch.onnx.export(
                model, (example,), dynamo=True, input_names=["input"], output_names=["logits"], opset_version=opset
            )
    except Exception as exc:
        raise EdgepruneError(f"ONNX export of {type(model).__name__} failed: {str(exc).splitlines()[0][:500]}") from exc

    def write(tmp: Path) -> None:
        program.save(tmp, external_data=False)
        onnx.checker.check_model(str(tmp))

    write_with(path, write)
    return Artifact(path=path, runtime="onnxruntime", precision=precision)
