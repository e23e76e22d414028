"""ONNX options: opset, dynamic batch, BatchNorm folding (none left in the graph), eval mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edgeprune.data import take
from edgeprune.errors import EdgepruneError
from edgeprune.export import export_model


class StandaloneBN(nn.Module):
    """BatchNorm before a conv and after a Linear: the ONNX optimizer cannot fold the first one into a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.bn_in = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 5)
        self.bn_out = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_out(self.fc(self.conv(self.bn_in(x)).mean((2, 3))))


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_batchnorm_folded_and_eval_enforced(tmp_path: Path):
    torch.manual_seed(0)
    model = StandaloneBN()
    for bn in (model.bn_in, model.bn_out):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
    model.train()  # the exporter must switch to eval (running statistics), else parity fails
    art = export_model(model, torch.randn(1, 3, 8, 8), tmp_path / "bn.onnx", "onnx", samples=torch.randn(16, 3, 8, 8))
    assert "BatchNormalization" not in _ops(art.path)
    assert not model.training
    assert art.metadata["verification"]["rel_err"] <= 1e-4
    assert art.metadata["options"]["batchnorm_folded_after_export"] == 1


def test_edgenet_graph_has_no_batchnorm(tmp_path: Path, trained, digits):
    art = export_model(trained, take(digits.val, 1)[0], tmp_path / "m.onnx", "onnx", samples=take(digits.val, 64)[0])
    assert "BatchNormalization" not in _ops(art.path) and "Conv" in _ops(art.path)
    graph = onnx.load(str(art.path)).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["logits"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 1, 8, 8]


def test_opset_and_dynamic_batch(tmp_path: Path, trained, digits):
    art = export_model(trained, take(digits.val, 1)[0], tmp_path / "d.onnx", "onnx", opset=19, dynamic_batch=True)
    proto = onnx.load(str(art.path))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 19
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = art._load()
    out = sess.run(None, {"input": take(digits.val, 5)[0].numpy()})[0]
    with torch.no_grad():
        ref = trained(take(digits.val, 5)[0]).numpy()
    assert out.shape == (5, 10) and np.allclose(out, ref, atol=1e-4)
    assert art.metadata["options"] == {"opset": 19, "dynamic_batch": True, "batchnorm_folded_after_export": 0}


def test_bad_opset_and_unknown_option(tmp_path: Path, edgenet):
    with pytest.raises(EdgepruneError, match="ONNX opset 9 is not supported"):
        export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.onnx", "onnx", opset=9)
    with pytest.raises(EdgepruneError, match=r"format 'onnx' has no option\(s\) \['nhwc'\]"):
        export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.onnx", "onnx", nhwc=True)
    with pytest.raises(EdgepruneError, match="ONNX export supports precision fp32, not 'int8'"):
        export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.onnx", "onnx", "int8")
