"""apply_plan: physically prune a model as a plan says (blocks, attention splits, then every layer cut once)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph import cache as graph_cache
from edgeprune.graph.attention import split_attention
from edgeprune.graph.depgraph import build_graph, iter_groups, qkv_attentions
from edgeprune.graph.surgery import (
    execute,
    follow_cut,
    prune_head_group,
    removals,
    retarget,
    sync_known_attributes,
)
from edgeprune.graph.trace import TraceError, ignore_advice, run_traced
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.plan import Plan


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
    """Prune ``model`` in place as ``plan`` says and return it; the output shape is checked unchanged.

    All groups are resolved against the unpruned graph and every layer is cut once with the union of what the
    groups remove (see :mod:`edgeprune.graph.surgery`); whole attention heads go last."""
    before = _output_shapes(model, example_input, "running the unpruned model") if plan.blocks else None
    drop_blocks(model, plan.blocks)
    heads = [g for g in plan.groups if g.kind == "head"]
    mha = [g.root for g in heads if isinstance(_module(model, g.root), nn.MultiheadAttention)]
    split_attention(model, list(dict.fromkeys([*plan.attention, *mha])))
    channel_groups = [g for g in plan.groups if g.kind != "head"]
    described = qkv_attentions(model) if heads else {}  # from the structure, before any width changes
    traced, dg = _graph(model, example_input) if channel_groups or before is None else (model, None)
    if before is None:
        before = list(dg.output_shapes)
    if channel_groups:
        units = {info.root: (info, unit) for info, unit in iter_groups(dg, traced)}
        drops = []
        for g in channel_groups:
            if g.root not in units:
                _missing(model, g.root)
            info, unit = units[g.root]
            if info.width != g.width:
                raise EdgepruneError(
                    f"plan group '{g.root}': the model has width {info.width} but the plan was made for {g.width} "
                    "(already pruned, or built with other sizes?)"
                )
            drop = sorted(set(range(g.width)) - set(g.keep))
            if drop:
                drops.append((unit, drop))
        merged = removals(drops)
        view = dg
        if traced is not model:
            view, merged = retarget(dg, traced, model, merged)
        try:
            execute(view, model, merged)
        except (AssertionError, RuntimeError, ValueError, IndexError) as exc:
            roots = ", ".join(g.root for g in channel_groups[:4])
            raise TraceError(f"pruning groups ({roots}...) failed: {str(exc).splitlines()[0]}") from exc
        follow_cut(view, model, merged)
    if heads:
        for g in heads:
            _prune_heads(model, g.root, g.width, g.keep, described)
    sync_known_attributes(model)
    try:
        after = _output_shapes(model, example_input, "running the pruned model")
    except TraceError as exc:
        cut = [g.root for g in plan.groups]
        if len(cut) != 1:
            raise
        raise TraceError(f"{exc.reason}; {ignore_advice(cut[0])}", exc.reason) from exc  # the one group that broke it
    if after != before:
        raise EdgepruneError(f"pruning changed the model output shape from {before} to {after}; plan is unsafe")
    return model


def _graph(model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, Any]:
    """(traced model, graph): the cached trace of a model of the same structure, else a new trace of ``model``."""
    hit = graph_cache.recall(model, example_input)
    if hit is not None:
        return hit
    dg = build_graph(model, example_input)
    return model, dg


def _module(model: nn.Module, path: str) -> nn.Module | None:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def _is_split(model: nn.Module, path: str) -> bool:
    from edgeprune.graph.attention import SplitAttention

    try:
        return isinstance(model.get_submodule(path), SplitAttention)
    except AttributeError:
        return False


def _prune_heads(model: nn.Module, root: str, width: int, keep: list[int], described: dict) -> None:
    try:
        module = model.get_submodule(root)
    except AttributeError:
        raise EdgepruneError(f"plan head group '{root}' is not a module of this model") from None
    qkv = described.get(root)
    heads = getattr(module, "num_heads", None) if qkv is None else qkv.num_heads
    if heads is None or (qkv is None and not _is_split(model, root)):
        raise EdgepruneError(f"plan head group '{root}' is a {type(module).__name__}, not an attention layer")
    if heads != width:
        raise EdgepruneError(
            f"plan head group '{root}': the model has {heads} heads but the plan was made for {width} "
            "(already pruned, or built with other sizes?)"
        )
    prune_head_group(model, root, keep, qkv)


def _missing(model: nn.Module, root: str) -> None:
    try:
        module = model.get_submodule(root)
    except AttributeError:
        raise EdgepruneError(f"plan group root '{root}' is not a module of this model") from None
    raise EdgepruneError(f"plan group root '{root}' ({type(module).__name__}) is not the root of a prunable group")
