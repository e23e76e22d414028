"""ViT encoder blocks' attention and MLP branches as separately removable blocks."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph import analyze, find_blocks
from edgeprune.graph.branches import AttentionResidual, MlpResidual
from edgeprune.prune import apply_plan, count_macs_params, drop_blocks, make_plan

L0, L1 = "encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"


@pytest.fixture()
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 3, 32, 32)


def test_branches_found_next_to_layers(vit: nn.Module, x: torch.Tensor) -> None:
    found = [(b.path, b.kind) for b in find_blocks(vit, x, branches=True)]
    assert found == [
        (L0, "residual"),
        (f"{L0}:attention", "branch"),
        (f"{L0}:mlp", "branch"),
        (L1, "residual"),
        (f"{L1}:attention", "branch"),
        (f"{L1}:mlp", "branch"),
    ]
    assert [b.path for b in find_blocks(vit, x)] == [L0, L1]  # only on request
    blocks = {b["path"]: b for b in analyze(vit, x).blocks}
    layer, attn, mlp = blocks[L0], blocks[f"{L0}:attention"], blocks[f"{L0}:mlp"]
    assert attn["verified"] and mlp["verified"]
    assert abs(attn["params_share"] + mlp["params_share"] - layer["params_share"]) < 1e-4
    assert 0 < mlp["macs_share"] < layer["macs_share"]


def test_removed_branch_contributes_zero(vit: nn.Module, x: torch.Tensor) -> None:
    """Dropping a branch equals zeroing its last layer in the unpruned model."""
    pruned = drop_blocks(copy.deepcopy(vit), [f"{L0}:attention", f"{L1}:mlp"])
    assert isinstance(pruned.encoder.layers[0], MlpResidual) and isinstance(pruned.encoder.layers[1], AttentionResidual)
    reference = copy.deepcopy(vit)
    with torch.no_grad():
        for layer in (reference.encoder.layers[0].self_attention.out_proj, reference.encoder.layers[1].mlp[3]):
            layer.weight.zero_()
            layer.bias.zero_()
        assert torch.allclose(pruned(x), reference(x), atol=1e-6)
        assert not torch.allclose(pruned(x), vit(x), atol=1e-3)
    assert count_macs_params(pruned, x)[0] < count_macs_params(vit, x)[0]
    names = {n for n, _ in pruned.named_parameters()}
    assert f"{L0}.mlp.0.weight" in names and f"{L1}.self_attention.in_proj_weight" in names  # names kept


def test_both_branches_make_the_layer_identity(vit: nn.Module) -> None:
    pruned = drop_blocks(copy.deepcopy(vit), [f"{L0}:mlp", f"{L0}:attention", f"{L1}", f"{L1}:mlp"])
    assert isinstance(pruned.encoder.layers[0], nn.Identity) and isinstance(pruned.encoder.layers[1], nn.Identity)


def test_unknown_branch_is_named(vit: nn.Module) -> None:
    with pytest.raises(
        EdgepruneError,
        match=r"block 'encoder\.layers\.encoder_layer_0:ffn': EncoderBlock has no "
        r"removable branch 'ffn' \(known: \['attention', 'mlp'\]\)",
    ):
        drop_blocks(vit, [f"{L0}:ffn"])
    with pytest.raises(EdgepruneError, match="Conv2d has no removable branch"):
        drop_blocks(vit, ["conv_proj:mlp"])


def test_plan_with_branches_and_heads(vit: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(vit, x, 0.5, blocks=[f"{L1}:attention"])
    assert plan.blocks == [f"{L1}:attention"] and plan.attention == [f"{L0}.self_attention"]
    assert {g.root for g in plan.groups if g.kind == "head"} == {f"{L0}.self_attention"}
    pruned = apply_plan(copy.deepcopy(vit), plan, x)
    assert isinstance(pruned.encoder.layers[1], MlpResidual) and pruned.encoder.layers[0].self_attention.num_heads == 2
    assert pruned(x).shape == (2, 10)
