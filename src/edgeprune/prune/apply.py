"""apply_plan: physically prune a model as a plan says (blocks, attention splits, channel groups, then heads)."""

from __future__ import annotations

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention, split_attention
from edgeprune.graph.depgraph import build_graph, group_of
from edgeprune.graph.trace import TraceError, run_traced
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.fixups import sync_attributes
from edgeprune.prune.heads import prune_heads
from edgeprune.prune.plan import GroupKeep, Plan


def _output_shapes(model: nn.Module, example_input: torch.Tensor, stage: str) -> list[tuple[int, ...]]:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = run_traced(model, lambda: model(example_input), stage=stage)
    finally:
        model.train(was)
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [tuple(o.shape) for o in outs if isinstance(o, torch.Tensor)]


def apply_plan(model: nn.Module, plan: Plan, example_input: torch.Tensor) -> nn.Module:
    """Prune ``model`` in place as ``plan`` says and return it; the output shape is checked unchanged."""
    before = _output_shapes(model, example_input, "running the unpruned model")
    drop_blocks(model, plan.blocks)
    heads = [g for g in plan.groups if g.kind == "head"]
    split_attention(model, list(dict.fromkeys([*plan.attention, *(g.root for g in heads)])))
    dg = build_graph(model, example_input)
    for g in plan.groups:
        if g.kind == "head":
            continue
        module = model.get_submodule(g.root) if _has(model, g.root) else None
        if module is None:
            raise EdgepruneError(f"plan group root '{g.root}' is not a module of this model")
        current = dg.get_out_channels(module)
        if current != g.width:
            raise EdgepruneError(
                f"plan group '{g.root}': the model has width {current} but the plan was made for {g.width} "
                "(already pruned, or built with other sizes?)"
            )
        drop = sorted(set(range(g.width)) - set(g.keep))
        if not drop:
            continue
        group = group_of(dg, model, g.root, drop)
        if not dg.check_pruning_group(group):
            raise EdgepruneError(f"plan group '{g.root}': pruning {len(drop)} of {g.width} would empty a coupled layer")
        try:
            group.prune()
        except (AssertionError, RuntimeError, ValueError) as exc:
            raise TraceError(
                f"pruning group '{g.root}' failed: {exc}; add '{g.root}' to ignored_layers to leave it unpruned"
            ) from exc
    for g in heads:
        _prune_head_group(model, g)
    sync_attributes(model)
    after = _output_shapes(model, example_input, "running the pruned model")
    if after != before:
        raise EdgepruneError(f"pruning changed the model output shape from {before} to {after}; plan is unsafe")
    return model


def _has(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def _prune_head_group(model: nn.Module, g: GroupKeep) -> None:
    attn = model.get_submodule(g.root)
    if not isinstance(attn, SplitAttention):
        raise EdgepruneError(f"plan head group '{g.root}' is a {type(attn).__name__}, not an attention layer")
    if attn.num_heads != g.width:
        raise EdgepruneError(
            f"plan head group '{g.root}': the model has {attn.num_heads} heads but the plan was made for {g.width} "
            "(already pruned, or built with other sizes?)"
        )
    prune_heads(attn, g.keep, g.root)
