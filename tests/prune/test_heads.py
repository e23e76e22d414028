"""Whole attention heads on a small torchvision ViT: split equals MultiheadAttention, heads 4 -> 2, MACs fall,
exact removal, save/load round trip, ONNX (and, slow, TFLite) export."""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention, split_all
from edgeprune.models import ModelSpec
from edgeprune.prune import Plan, apply_plan, count_macs_params, load_pruned, make_plan, save_pruned
from edgeprune.prune.heads import head_keep_count

ATTN = [f"encoder.layers.encoder_layer_{i}.self_attention" for i in range(2)]
FACTORY = """
import torchvision


def build(num_classes=10):
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=num_classes
    )
"""


@pytest.fixture()
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_split_attention_equals_multihead_attention(batch_first: bool, bias: bool) -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(24, 3, bias=bias, batch_first=batch_first).eval()
    split = SplitAttention.from_mha(mha).eval()
    x = torch.randn(2, 7, 24) if batch_first else torch.randn(7, 2, 24)
    with torch.no_grad():
        want, want_w = mha(x, x, x)
        got, got_w = split(x, x, x)
        assert torch.allclose(got, want, atol=1e-5) and torch.allclose(got_w, want_w, atol=1e-5)
        assert split(x, x, x, need_weights=False)[1] is None
    assert (split.num_heads, split.head_dim, split.q_proj.weight.shape) == (3, 8, (24, 24))
    with pytest.raises(ValueError, match="self-attention only"):
        split(x, x.flip(0), x)


def test_whole_model_split_is_equal(vit: nn.Module, x: torch.Tensor) -> None:
    split = copy.deepcopy(vit)
    assert split_all(split, x) == ATTN
    with torch.no_grad():
        assert torch.allclose(split(x), vit(x), atol=1e-5)
    assert count_macs_params(split, x) == count_macs_params(vit, x)  # counted alike


def test_heads_fall_from_4_to_2(vit: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(vit, x, {ATTN[0]: 0.5, f"{ATTN[1]}.q_proj": 0.5})
    assert isinstance(vit.encoder.layers[0].self_attention, nn.MultiheadAttention)  # model untouched
    assert plan.attention == ATTN
    assert [(g.root, g.kind, g.width, len(g.keep)) for g in plan.groups] == [(a, "head", 4, 2) for a in ATTN]
    macs_before, params_before = count_macs_params(vit, x)
    pruned = apply_plan(copy.deepcopy(vit), plan, x)
    macs_after, params_after = count_macs_params(pruned, x)
    for layer in pruned.encoder.layers:
        attn = layer.self_attention
        assert isinstance(attn, SplitAttention) and attn.num_heads == 2 and layer.num_heads == 2
        assert attn.q_proj.weight.shape == (16, 32) and attn.out_proj.weight.shape == (32, 16)
    assert macs_after < 0.85 * macs_before and params_after < params_before
    assert pruned(x).shape == (2, 10)


def test_head_removal_is_exact(vit: nn.Module, x: torch.Tensor) -> None:
    """Pruned heads contribute nothing: the pruned model equals the split model with those heads' values zeroed."""
    plan = make_plan(vit, x, {ATTN[0]: 0.5})
    keep = plan.group(ATTN[0]).keep
    reference = copy.deepcopy(vit)
    split_all(reference, x)
    v = reference.encoder.layers[0].self_attention.v_proj
    with torch.no_grad():
        unpruned = vit(x)
        for h in set(range(4)) - set(keep):
            v.weight[h * 8 : (h + 1) * 8] = 0.0
            v.bias[h * 8 : (h + 1) * 8] = 0.0
        pruned = apply_plan(vit, plan, x)(x)
        assert torch.allclose(pruned, reference(x), atol=1e-5)
        assert not torch.allclose(pruned, unpruned, atol=1e-3)  # the heads did matter


def test_keeps_strongest_heads(vit: nn.Module, x: torch.Tensor) -> None:
    attn = vit.encoder.layers[0].self_attention
    with torch.no_grad():
        attn.in_proj_weight.mul_(0.01)
        for h in (1, 3):
            for part in range(3):  # q, k and v rows of head h
                attn.in_proj_weight[part * 32 + h * 8 : part * 32 + (h + 1) * 8] *= 1000.0
    assert make_plan(vit, x, {ATTN[0]: 0.5}).group(ATTN[0]).keep == [1, 3]


def test_uniform_ratio_prunes_heads_stream_and_mlp(vit: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(vit, x, 0.5)
    kinds = {g.root: (g.kind, len(g.keep)) for g in plan.groups}
    assert kinds["conv_proj"] == ("embedding", 16) and kinds[ATTN[1]] == ("head", 2)
    assert kinds["encoder.layers.encoder_layer_0.mlp.0"] == ("neuron", 32)
    pruned = apply_plan(copy.deepcopy(vit), plan, x)
    attn = pruned.encoder.layers[0].self_attention
    assert attn.q_proj.weight.shape == (16, 16) and attn.embed_dim == 16 and pruned.hidden_dim == 16
    assert pruned(x).shape == (2, 10)


def test_ignored_attention_keeps_heads(vit: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(vit, x, 0.5, ignored_layers=[ATTN[0]])
    assert plan.group(ATTN[0]) is None and plan.group(ATTN[1]) is not None
    assert plan.group("conv_proj") is None  # the attention's output is the residual stream: it stays too


def test_round_to_counts_inner_width() -> None:
    assert head_keep_count(12, 64, 0.3, 1) == 8
    assert head_keep_count(12, 64, 0.3, 16) == 8  # 8 x 64 is a multiple of 16
    assert head_keep_count(4, 8, 0.5, 16) == 2  # 2 x 8 = 16
    assert head_keep_count(4, 8, 0.9, 16) == 2  # never below one step


def test_save_load_round_trip_is_exact(vit: nn.Module, x: torch.Tensor, tmp_path, monkeypatch) -> None:
    (tmp_path / "ep_tiny_vit.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec("ep_tiny_vit:build", num_classes=10, in_channels=3)
    plan = make_plan(vit, x, {ATTN[0]: 0.5, ATTN[1]: 0.25, "conv_proj": 0.25}, spec=spec)
    pruned = apply_plan(vit, plan, x)
    save_pruned(tmp_path / "m", pruned, plan)
    loaded, loaded_plan = load_pruned(tmp_path / "m", spec.spec)
    assert loaded_plan.to_dict() == plan.to_dict() and loaded_plan.attention == ATTN
    assert loaded.encoder.layers[0].self_attention.num_heads == 2
    assert loaded.encoder.layers[1].self_attention.num_heads == 3
    with torch.no_grad():
        assert torch.equal(pruned(x), loaded(x))


def test_replay_errors_name_the_attention(vit: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(vit, x, {ATTN[0]: 0.5})
    pruned = apply_plan(copy.deepcopy(vit), plan, x)
    with pytest.raises(EdgepruneError, match=r"'encoder\.layers\.encoder_layer_0\.self_attention': the model has 2"):
        apply_plan(pruned, plan, x)
    bad = Plan.from_dict({**plan.to_dict(), "attention": ["encoder.nope"]})
    with pytest.raises(EdgepruneError, match=r"attention 'encoder\.nope' is not a module"):
        apply_plan(copy.deepcopy(vit), bad, x)
    head_group = {**plan.groups[0].to_dict(), "root": "heads"}
    wrong = Plan.from_dict({**plan.to_dict(), "attention": [], "groups": [head_group]})
    with pytest.raises(EdgepruneError, match=r"'heads' is a Sequential, not an attention layer"):
        apply_plan(copy.deepcopy(vit), wrong, x)


def _export(model: nn.Module, x: torch.Tensor, path: str) -> None:
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=True, verbose=False)


def test_pruned_vit_exports_to_onnx(vit: nn.Module, x: torch.Tensor, tmp_path) -> None:
    import onnxruntime as ort

    pruned = apply_plan(vit, make_plan(vit, x, 0.5), x)
    _export(pruned, x, str(tmp_path / "vit.onnx"))
    session = ort.InferenceSession(str(tmp_path / "vit.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = pruned(x).numpy()
    assert got.shape == (2, 10) and np.abs(want).max() > 1e-3
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.slow
def test_pruned_vit_converts_to_tflite(vit: nn.Module, x: torch.Tensor, tmp_path) -> None:
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    pruned = apply_plan(vit, make_plan(vit, x, 0.5, blocks=["encoder.layers.encoder_layer_1:mlp"]), x)
    litert_torch.convert(pruned.eval(), (x,)).export(str(tmp_path / "vit.tflite"))
    interpreter = Interpreter(model_path=str(tmp_path / "vit.tflite"))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.numpy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    with torch.no_grad():
        np.testing.assert_allclose(got, pruned(x).numpy(), atol=1e-4)
