"""Every pattern of issue 17 on a minimal model: analysis verifies it, a uniform plan prunes it, and where no
norm sits over the cut channels, pruning channels that were silenced changes the output by float noise only."""

from __future__ import annotations

import copy

import pytest
import torch
from tests.graph.exactness import max_change
from tests.models_patterns import patterns as P

from edgeprune.graph import analyze
from edgeprune.models.init import make_non_degenerate
from edgeprune.prune import apply_plan, count_macs_params, make_plan

IMAGE = (1, 3, 16, 16)
TOKENS = (1, 8, 6)


def _setup(factory, shape=IMAGE):
    torch.manual_seed(0)
    model = factory().eval()
    x = torch.randn(*shape)
    make_non_degenerate(model, seed=0, example=x)  # random norms and statistics, so that silencing matters
    return model, x


def _prunes(model, x, ratio=0.5, **kwargs):
    plan = make_plan(model, x, ratio, **kwargs)
    pruned = apply_plan(copy.deepcopy(model), plan, x)
    before, after = count_macs_params(model, x)[0], count_macs_params(pruned, x)[0]
    return plan, pruned, after / before


def test_nested_concats_into_grouped_conv_form_one_joint_unit() -> None:
    model, x = _setup(P.NestedConcat)
    a = analyze(model, x)
    unit = a.group("stem.0")
    assert unit["prunable"] and unit["verified"] and unit["width"] == 24 and unit["channel_groups"] == 4
    assert "joint: stem.0 + a.0 + b.0" in unit["coupling"]
    assert {"a.0", "b.0"} <= set(unit["members"]) and a.group("side.0")["prunable"]
    plan, pruned, fraction = _prunes(model, x)
    assert fraction < 0.35 and pruned.grouped[0].in_channels == 12 and pruned.grouped[0].groups == 4
    assert max_change(model, x, plan) < 1e-5


def test_channel_shuffle_is_a_permutation() -> None:
    model, x = _setup(P.ShuffleV1)
    a = analyze(model, x)
    g1 = a.group("g1.0")
    assert g1["prunable"] and g1["verified"] and "channel shuffle: view into 2 x 8 at ViewBackward0" in g1["partitions"]
    plan, pruned, fraction = _prunes(model, x)
    assert fraction < 0.35 and pruned.g2[0].in_channels == 8
    assert max_change(model, x, plan) < 1e-5


def test_shufflenet_v2_units_prune_across_chunk_and_shuffle() -> None:
    model, x = _setup(P.ShuffleV2)
    a = analyze(model, x)
    joint = a.group("down.branch1.2")  # both branches of the strided unit and the next unit's pass-through half
    assert joint["prunable"] and joint["verified"] and joint["width"] == 48
    assert {"down.branch2.5", "unit.branch2.5"} <= set(joint["members"])
    assert any("chunk" in p for p in joint["partitions"])
    assert any("channel shuffle: view into 2 x 16" in p for p in joint["partitions"])
    plan, pruned, fraction = _prunes(model, x)
    assert plan.group("down.branch1.2") is not None and fraction < 0.4
    assert pruned.last[0].in_channels == 16
    assert max_change(model, x, plan) < 1e-5


def test_unequal_split_and_slice_sizes_follow_the_cut() -> None:
    model, x = _setup(P.SplitBranches)
    a = analyze(model, x)
    assert all(a.group(r)["prunable"] for r in ("stem.0", "small.0", "large.0", "expand.0"))
    plan, pruned, fraction = _prunes(model, x)
    stem_keep = plan.group("stem.0").keep
    assert pruned.split_sizes == [sum(i < 8 for i in stem_keep), sum(i >= 8 for i in stem_keep)]
    assert pruned.out_chs == sum(i < 20 for i in plan.group("expand.0").keep) and fraction < 0.35
    assert max_change(model, x, plan) < 1e-5


def test_equal_split_sized_from_a_total_attribute_follows_the_cut() -> None:
    model, x = _setup(P.EqualSplitByTotal)
    assert analyze(model, x).group("stem.0")["prunable"]
    plan, pruned, fraction = _prunes(model, x)
    keep = plan.group("stem.0").keep
    halves = [sum(i < 16 for i in keep), sum(i >= 16 for i in keep)]
    assert halves[0] == halves[1] < 16 and pruned.sk.in_channels == len(keep) and fraction < 0.6
    assert pruned.sk.num_paths == 2  # a count of pieces, not a width
    assert max_change(model, x, plan) < 1e-5


def test_grouped_convs_shrink_per_group() -> None:
    model, x = _setup(P.GroupedChain)
    a = analyze(model, x)
    assert a.group("pw.0")["channel_groups"] == 4 and a.group("g4.0")["channel_groups"] == 4
    plan, pruned, fraction = _prunes(model, x, round_to=4)
    assert pruned.g4[0].weight.shape == (16, 4, 3, 3) and pruned.g2[0].weight.shape == (8, 8, 3, 3)
    assert fraction < 0.35
    assert max_change(model, x, plan) < 1e-5


def test_squeeze_excitation_gate_shrinks_with_the_gated_channels() -> None:
    model, x = _setup(P.SEGate)
    body = analyze(model, x).group("body.0")
    assert body["prunable"] and "se.fc2" in body["members"] and "elementwise mul (gating)" in body["coupling"]
    plan, pruned, _ = _prunes(model, x)
    assert pruned.se.fc2.out_channels == pruned.body[0].out_channels == 8
    assert max_change(model, x, plan) < 1e-5


def test_layernorm_head_shrinks_with_the_features() -> None:
    model, x = _setup(P.LayerNormHead)
    body = analyze(model, x).group("body.0")
    assert body["prunable"] and body["verified"] and "norm" in body["members"]
    _, pruned, fraction = _prunes(model, x)
    assert pruned.norm.normalized_shape == (16,) and pruned.hidden.in_features == 16 and fraction < 0.55


def test_residual_add_into_a_slice_ties_the_branch_and_moves_the_boundary() -> None:
    model, x = _setup(P.SliceResidual)
    stem = analyze(model, x).group("stem.0")
    assert stem["prunable"] and "branch.0" in stem["members"]
    plan, pruned, _ = _prunes(model, x)
    assert pruned.part == sum(i < 8 for i in plan.group("stem.0").keep) == pruned.branch[0].out_channels
    assert max_change(model, x, plan) < 1e-5


def test_in_place_slice_add_is_left_alone_with_the_reason() -> None:
    model, x = _setup(P.InplaceSliceResidual)
    a = analyze(model, x)
    assert not a.group("stem.0")["prunable"] and "in-place write into a slice" in a.group("stem.0")["note"]
    plan, _, fraction = _prunes(model, x)
    assert {g.root for g in plan.left_alone} >= {"stem.0", "branch.0"} and fraction < 1.0


def test_qkv_attention_becomes_a_head_group_and_num_heads_follows() -> None:
    model, x = _setup(P.QkvTransformer, TOKENS)
    a = analyze(model, x)
    heads = a.group("attn")
    assert heads["kind"] == "head" and heads["width"] == 4 and heads["prunable"] and heads["verified"]
    assert a.group("attn.qkv") is None  # never a neuron group that would break the reshape
    plan, pruned, fraction = _prunes(model, x)
    assert plan.group("attn").kind == "head" and len(plan.group("attn").keep) == 2
    assert pruned.attn.num_heads == 2 and pruned.attn.attn_dim == 16 and pruned.attn.qkv.out_features == 48
    assert fraction < 0.5
    only_heads = make_plan(model, x, {"attn": 0.5})
    assert max_change(model, x, only_heads) < 1e-5


def test_heads_derived_from_the_width_shrink_with_it() -> None:
    model, x = _setup(P.WidthDerivedTransformer, TOKENS)
    a = analyze(model, x)
    stream, heads = a.group("embed"), a.group("attn")
    assert stream["prunable"] and stream["verified"] and "heads of attn" in stream["coupling"]
    assert not heads["prunable"] and "pruned with group 'embed'" in heads["note"]
    plan, pruned, fraction = _prunes(model, x)
    assert plan.group("attn").kind == "head" and len(plan.group("attn").keep) == 2
    assert len(plan.group("embed").keep) == 16 == 2 * pruned.attn.head_dim  # one head (8 wide) per 8 channels
    assert pruned.attn.num_heads == 2 and pruned.attn.qkv.in_features == 16 and fraction < 0.5


def test_chunked_width_read_as_heads_keeps_equal_halves() -> None:
    model, x = _setup(P.ChunkedWidthDerived)
    a = analyze(model, x)
    assert a.group("stem.0")["prunable"] and "pruned with group 'stem.0'" in a.group("attn")["note"]
    plan, pruned, _ = _prunes(model, x)
    keep = plan.group("stem.0").keep
    assert len(keep) == 8 * len(plan.group("attn").keep) < 32  # one head (8 wide) per 8 channels
    assert sum(i < 16 for i in keep) == sum(i >= 16 for i in keep) == pruned.dw.in_channels  # equal halves
    assert pruned(x).shape == (1, 10)


def test_group_search_time_bound_leaves_groups_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeprune.graph.depgraph as depgraph

    monkeypatch.setattr(depgraph, "GROUP_SECONDS", -1.0)  # every search is already past its deadline
    model, x = _setup(P.NestedConcat)
    a = analyze(model, x)
    assert a.groups and not any(g["prunable"] for g in a.groups if g["kind"] != "head")
    assert all("did not settle in time" in g["note"] for g in a.groups if g["root"] != "head.fc")
    plan = make_plan(model, x, 0.5)
    assert plan.groups == [] and len(plan.left_alone) == len(a.groups)
