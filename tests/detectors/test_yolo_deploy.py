"""``edgeprune deploy --target targets/yolo-tflite.toml``: a detector target runs the whole chain (train, prune,
fine-tune, TFLite fp32 + int8 verified, timed on LiteRT) and its report speaks mAP and speedup."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_detector_target_deploys(tmp_path) -> None:
    from edgeprune import deploy_target

    report = deploy_target(
        str(ROOT / "targets" / "yolo-tflite.toml"), out=tmp_path / "yolo", train_epochs=1, epochs=1,
        data="detect-digits:64", runs=20,
    )  # fmt: skip
    assert report.task.name == "detection" and report.task.metric == "mAP50-95"
    assert report.pruned.macs <= 0.5 * report.baseline.macs
    rows = {(r.artifact.role, r.artifact.precision): r for r in [*report.artifacts, *report.unpruned_artifacts]}
    assert {("pruned", "fp32"), ("pruned", "int8"), ("baseline", "int8")} <= set(rows)
    assert rows[("pruned", "fp32")].artifact.parity.rel_err <= 1e-4
    int8 = rows[("pruned", "int8")].artifact.int8
    assert int8["passed"] and "box_agreement" in int8
    assert all(r.speedup > 0 for r in rows.values())
    text = (tmp_path / "yolo" / "report.md").read_text()
    assert "mAP50-95" in text and "int8: mAP drop <= 2 pt" in text
