from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.errors import EdgepruneError, ParityError
from edgeprune.export import check_parity, export_model, load_artifact, relative_error


@pytest.mark.parametrize(("fmt", "runtime"), [("tflite", "litert"), ("onnx", "onnxruntime")])
def test_fp32_export_matches_torch(tmp_path: Path, edgenet, fmt: str, runtime: str):
    example = torch.randn(1, 1, 28, 28)
    artifact = export_model(edgenet, example, tmp_path / f"m.{fmt}", fmt)
    assert artifact.runtime == runtime and artifact.path.is_file() and artifact.size_bytes > 10_000
    samples = torch.randn(8, 1, 28, 28)
    report = check_parity(artifact, edgenet, samples)
    assert report.rel_err <= 1e-4 and report.top1_agreement == 100.0
    reloaded = load_artifact(artifact.path)
    assert reloaded(samples[:1].numpy()).shape == (1, 10)


def test_onnx_is_single_file_plus_metadata(tmp_path: Path, edgenet):
    export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.onnx", "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]


def test_parity_failure_reports_numbers(tmp_path: Path, edgenet):
    artifact = export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.onnx", "onnx")
    with torch.no_grad():
        edgenet.classifier.bias.add_(1.0)  # the torch model no longer matches the file
    with pytest.raises(ParityError, match=r"relative error .* > bound 0.0001"):
        check_parity(artifact, edgenet, torch.randn(4, 1, 28, 28))


def test_relative_error_is_relative():
    ref = np.full((2, 3), 1e-6, dtype=np.float32)
    assert relative_error(ref * 1.001, ref) == pytest.approx(1e-3, rel=1e-2)


def test_unknown_format_and_artifact(tmp_path: Path, edgenet):
    with pytest.raises(EdgepruneError, match="unknown export format 'coreml'"):
        export_model(edgenet, torch.randn(1, 1, 28, 28), tmp_path / "m.x", "coreml")
    with pytest.raises(EdgepruneError, match=r"unknown file type '.pb'"):
        load_artifact(tmp_path / "m.pb")
