"""``edgeprune export`` end to end on digits: a checkpoint, a pruned plan folder, --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeprune.commands.main import main
from edgeprune.data import take
from edgeprune.models import ModelSpec, build_model, save_weights


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, trained) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "edgenet8.safetensors"
    save_weights(trained, path)
    return path


def _factory_spec() -> str:
    return "tests.export.test_export_cli:edgenet8"


def edgenet8(num_classes: int = 10, in_channels: int = 1):
    from edgeprune.models.edgenet import EdgeNet

    return EdgeNet(num_classes=num_classes, in_channels=in_channels, width=8)


def test_cli_exports_checkpoint_and_refuses_overwrite(tmp_path: Path, checkpoint: Path, capsys):
    argv = ["export", "--model", _factory_spec(), "--checkpoint", str(checkpoint), "--data", "digits"]
    argv += ["--format", "onnx", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "arg-max agreement 100.0% on 359 samples" in out
    artifact = tmp_path / "unpruned_fp32.onnx"
    meta = json.loads(Path(f"{artifact}.json").read_text())
    assert meta["source"]["plan_hash"] is None and len(meta["source"]["model_hash"]) == 64
    assert meta["preprocessing"]["std"][0] > 0 and meta["input_shape"] == [1, 1, 8, 8]
    assert 0 < meta["gzip_size_bytes"] < meta["size_bytes"]
    assert main(argv) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


@pytest.mark.slow
def test_cli_exports_pruned_plan_int8(tmp_path: Path, trained, digits, capsys):
    import copy

    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit
    from edgeprune.prune import apply_plan, make_plan, save_pruned

    spec = ModelSpec(_factory_spec(), num_classes=10, in_channels=1)
    model = copy.deepcopy(trained)
    plan = make_plan(model, take(digits.val, 1)[0], 0.25, spec=spec)
    apply_plan(model, plan, take(digits.val, 1)[0])
    fit(model, digits, FinetuneConfig(epochs=2, lr=2e-3, distill=False, seed=0), description="fine-tune")
    save_pruned(tmp_path / "pruned", model, plan)
    argv = ["export", "--pruned", str(tmp_path / "pruned"), "--model", _factory_spec(), "--data", "digits"]
    argv += ["--format", "tflite"]
    argv += ["--precision", "int8", "--calibration-samples", "64", "--out", str(tmp_path / "out")]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    meta = json.loads((tmp_path / "out" / "pruned_int8.tflite.json").read_text())
    assert len(meta["source"]["plan_hash"]) == 64 and meta["quantization"]["calibration_samples"] == 64
    assert meta["verification"]["int8"]["passed"] and meta["verification"]["int8"]["accuracy_drop"] <= 1.0
    assert "val top1 of the artifact" in captured.out


def test_cli_needs_weights_for_a_user_model(tmp_path: Path, capsys):
    assert (
        main(["export", "--model", _factory_spec(), "--format", "onnx", "--data", "digits", "--out", str(tmp_path)])
        == 2
    )
    assert "give --checkpoint with the weights of --model (or --pruned DIR)" in capsys.readouterr().err
    assert build_model(ModelSpec(_factory_spec())) is not None
