"""A non-classification model through the whole chain with a user metric: torchvision LR-ASPP (MobileNetV3) on
digit masks, mean IoU: sensitivity -> plan -> prune -> fine-tune -> TFLite export with parity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeprune.commands.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "segmentation"
COMMON = [
    "--model", f"{EXAMPLE / 'model.py'}:make",
    "--data", f"{EXAMPLE / 'digit_masks.py'}:make",
    "--metric", f"{EXAMPLE / 'metrics.py'}:miou",
    "--train-epochs", "8",
]  # fmt: skip


@pytest.mark.slow
def test_segmentation_chain_with_a_user_metric(tmp_path: Path) -> None:
    scan = ["--samples", "128", "--ratios", "0.3,0.6", "--no-blocks"]
    assert main(["sensitivity", *COMMON, *scan, "--out", str(tmp_path / "sens")]) == 0
    sens = json.loads((tmp_path / "sens" / "sensitivity.json").read_text())
    assert sens["metric_name"] == "miou" and sens["higher_is_better"] is True and len(sens["groups"]) > 10
    assert main(["plan", *COMMON, *scan, "--macs", "0.6", "--round-to", "8", "--out", str(tmp_path / "plan")]) == 0
    planning = json.loads((tmp_path / "plan" / "plan.json").read_text())["planning"]
    assert 0.95 * 0.6 <= planning["macs_fraction"] <= 0.6 and planning["predicted_metric"] is not None
    plan_file = str(tmp_path / "plan" / "plan.json")
    assert main(["prune", "--plan", plan_file, *COMMON, "--out", str(tmp_path / "pruned")]) == 0
    tune = ["--epochs", "2", "--device", "cpu", "--out", str(tmp_path / "ft")]
    assert main(["finetune", "--pruned", str(tmp_path / "pruned"), *COMMON, *tune]) == 0
    summary = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert summary["task"]["metric"] == "miou" and summary["best_select_metric"] >= summary["start_select_metric"]
    assert summary["val_metric"] >= summary["val_metric_before"] - 2.0  # chosen on select; val may move a little
    assert summary["teacher_val_metric"] is not None and summary["config"]["distill"] is True
    out = tmp_path / "export"
    args = ["export", "--pruned", str(tmp_path / "ft" / "model"), *COMMON, "--format", "tflite", "--out", str(out)]
    assert main(args) == 0
    meta = json.loads((out / "pruned_fp32.tflite.json").read_text())
    assert meta["verification"]["rel_err"] <= 1e-4 and meta["input_shape"] == [1, 3, 32, 32]
    assert meta["preprocessing"]["source"].startswith("factory:") and meta["preprocessing"]["scale"] == 1 / 16
