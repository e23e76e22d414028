"""Issue 17's bring-your-own CNN and a TransformerEncoder text classifier, end to end through the API:
analyze, prune to <= 0.5x MACs, export with parity on the real runtimes (TFLite fp32 and int8; ONNX and TFLite)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from tests.models_patterns import byo_cnn, text_transformer

from edgeprune.data import take
from edgeprune.export import export_model
from edgeprune.graph import analyze
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import apply_plan, count_macs_params, make_plan


@pytest.fixture(scope="module")
def byo(digits):
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit

    torch.manual_seed(0)
    model = byo_cnn.make(num_classes=10, in_channels=1)
    fit(model, digits, FinetuneConfig(epochs=3, lr=1e-2, distill=False))
    return model.eval()


def test_byo_cnn_groups_are_verified(byo, digits) -> None:
    x = take(digits.select, 1)[0]
    a = analyze(byo, x)
    stem = a.group("stem.0")  # stem + both dense units, joined by the grouped conv reading their concatenation
    assert stem["prunable"] and stem["verified"] and stem["width"] == 48 and stem["channel_groups"] == 4
    assert {"dense1.conv", "dense2.conv"} <= set(stem["members"])
    grouped = a.group("grouped.0")  # grouped conv + SE gate + residual add + LayerNorm head, one group
    assert grouped["prunable"] and {"se.fc2", "residual.0", "norm"} <= set(grouped["members"])
    assert [g["root"] for g in a.groups if not g["prunable"]] == ["classifier"]


def test_byo_cnn_prunes_to_half_macs_and_deploys_on_tflite_fp32_and_int8(byo, digits, tmp_path: Path) -> None:
    x = take(digits.select, 1)[0]
    base = count_macs_params(byo, x)[0]

    def prune_at(ratio: float):
        pruned, plan, macs = prune_uniform(byo, x, ratio, round_to=4)
        return (pruned, plan), macs

    ratio, (pruned, plan), macs = smallest_ratio_meeting(prune_at, base // 2)
    assert macs <= 0.5 * base and ratio < 0.9 and plan.left_alone[0].root == "classifier"
    assert pruned.grouped[0].in_channels % pruned.grouped[0].groups == 0
    fp32 = export_model(pruned, x, tmp_path / "byo.tflite", "tflite", samples=take(digits.val, 64)[0])
    assert fp32.metadata["verification"]["rel_err"] <= 1e-4
    val_x, val_y = take(digits.val, 200)
    int8 = export_model(
        pruned,
        x,
        tmp_path / "byo_int8.tflite",
        "tflite",
        "int8",
        samples=val_x,
        labels=val_y,
        calibration=take(digits.select, 128)[0],
    )
    assert int8.precision == "int8" and int8.size_bytes < fp32.size_bytes
    assert int8.metadata["verification"]["top1_agreement"] >= 97.0


def test_text_transformer_prunes_heads_mlp_and_layers_and_exports(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = text_transformer.make().eval()
    x = text_transformer.tokens()
    a = analyze(model, x)
    kinds = {g["root"]: g["kind"] for g in a.groups if g["prunable"]}
    assert kinds["encoder.layers.0.self_attn"] == "head" and kinds["encoder.layers.0.linear1"] == "neuron"
    assert "encoder.layers.2" in {b["path"] for b in a.blocks}
    ratios = {"encoder.layers.0.self_attn": 0.5, "encoder.layers.1.self_attn": 0.5}
    ratios |= {"encoder.layers.0.linear1": 0.5, "encoder.layers.1.linear1": 0.5}
    plan = make_plan(model, x, ratios, blocks=["encoder.layers.2"])
    pruned = apply_plan(copy.deepcopy(model), plan, x)
    assert pruned.encoder.layers[0].self_attn.num_heads == 2 and pruned.encoder.layers[1].linear1.out_features == 64
    assert count_macs_params(pruned, x)[0] < 0.4 * count_macs_params(model, x)[0]
    samples = text_transformer.tokens(4, seed=1)
    with torch.no_grad():
        assert pruned(samples).shape == (4, 4)
    for fmt in ("onnx", "tflite"):
        artifact = export_model(pruned, x, tmp_path / f"text.{fmt}", fmt, samples=samples)
        assert artifact.metadata["verification"]["rel_err"] <= 1e-4
