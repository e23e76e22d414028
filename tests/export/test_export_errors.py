"""Refusals with clear messages: overwrite without force, unsupported ops, data-dependent control flow,
a file that diverges from the torch model (never published)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError, ParityError
from edgeprune.export import UnsupportedModelError, export_model


class Branchy(nn.Module):
    """Picks a branch on a tensor value: no static graph exists."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if x.sum() > 0:
            return x * 2
        return x


class Svd(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svd(x)[1]


class Unique(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.unique(x).sum()


class ExportAware(nn.Module):
    """Computes something else while being exported: the file cannot match the torch model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if torch.compiler.is_exporting() else x + 1


def wrap(inner: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Identity(), nn.Sequential(nn.Identity(), inner))


def test_existing_artifact_needs_force(tmp_path: Path, edgenet):
    x = torch.randn(1, 1, 28, 28)
    export_model(edgenet, x, tmp_path / "m.onnx", "onnx")
    before = (tmp_path / "m.onnx").stat().st_mtime_ns
    with pytest.raises(EdgepruneError, match=r"m\.onnx already exists; pass --force"):
        export_model(edgenet, x, tmp_path / "m.onnx", "onnx")
    assert (tmp_path / "m.onnx").stat().st_mtime_ns == before
    export_model(edgenet, x, tmp_path / "m.onnx", "onnx", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]


def test_tflite_unsupported_op_names_module_and_op(tmp_path: Path):
    with pytest.raises(UnsupportedModelError, match=r"cannot convert op 'aten\._unique2' used in module '1\.1'.*Try:"):
        export_model(wrap(Unique()), torch.randn(1, 4, 4), tmp_path / "u.tflite", "tflite")
    assert not (tmp_path / "u.tflite").exists()


def test_onnx_unsupported_op_names_module_and_op(tmp_path: Path):
    with pytest.raises(UnsupportedModelError, match=r"op 'aten\._linalg_svd' used in module '1\.1'.*--format tflite"):
        export_model(wrap(Svd()), torch.randn(1, 4, 4), tmp_path / "s.onnx", "onnx")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_data_dependent_control_flow_names_module_and_line(tmp_path: Path, fmt: str):
    with pytest.raises(UnsupportedModelError, match=r"failed in module '1\.1' \(Branchy\) at `if x.sum\(\) > 0:`.*try"):
        export_model(wrap(Branchy()), torch.randn(1, 4, 4), tmp_path / f"b.{fmt}", fmt)


def test_diverging_file_is_never_published(tmp_path: Path):
    with pytest.raises(
        ParityError, match=r"e\.onnx \(onnxruntime, fp32\) diverges.* > bound 0.0001 on 3 samples.*not written"
    ):
        export_model(ExportAware(), torch.randn(1, 4), tmp_path / "e.onnx", "onnx", samples=torch.randn(3, 4))
    assert not list(tmp_path.iterdir())


def test_batchnorm_without_running_stats_is_refused(tmp_path: Path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(EdgepruneError, match=r"BatchNorm module\(s\) \['1'\] have no running statistics"):
        export_model(model, torch.randn(1, 1, 8, 8), tmp_path / "m.onnx", "onnx")
