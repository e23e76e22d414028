"""ONNX export through ``torch.onnx.export(..., dynamo=True)``: BatchNorm folded, checked by ``onnx.checker``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact
from edgeprune.export.diagnose import explain_failure
from edgeprune.export.onnx_bn import fold_batchnorm
from edgeprune.logs import quiet

INPUT_NAME, OUTPUT_NAME = "input", "logits"
MIN_OPSET = 17  # the dynamo exporter emits opset 17+; LayerNormalization needs 17


def export(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    precision: str = "fp32",
    opset: int = 18,
    dynamic_batch: bool = False,
) -> Artifact:
    """Write a single-file ONNX model to ``path`` (the registry makes it atomic).

    Input ``input``, output ``logits``; batch 1 unless ``dynamic_batch``.
    """
    import onnx

    if precision != "fp32":
        raise EdgepruneError(
            f"ONNX export supports precision fp32, not '{precision}'; use the tflite format for {precision}"
        )
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise EdgepruneError(f"ONNX opset {opset!r} is not supported; use an integer >= {MIN_OPSET} (default 18)")
    dynamic = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    try:
        with quiet():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamic_shapes=dynamic,
                optimize=True,
            )
    except Exception as exc:
        raise explain_failure(model, example, exc, "ONNX export") from exc
    proto = program.model_proto
    folded = fold_batchnorm(proto)
    left = [n.name for n in proto.graph.node if n.op_type == "BatchNormalization"]
    if left:
        raise EdgepruneError(f"ONNX export left BatchNormalization node(s) {left[:5]} unfolded")
    onnx.save_model(proto, str(path), save_as_external_data=False)
    onnx.checker.check_model(str(path), full_check=True)
    options = {"opset": opset, "dynamic_batch": dynamic_batch, "batchnorm_folded_after_export": folded}
    return Artifact(path=path, runtime="onnxruntime", precision=precision, metadata={"options": options})
