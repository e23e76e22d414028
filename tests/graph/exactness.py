"""Numerical proof that a plan cuts the right channels: silence the channels it drops, then prune them.

If the dropped channels are made exactly zero where they are produced (conv/linear rows and biases, norm scale
and shift, the value rows of dropped heads), removing them must not change the output. A wrong index mapping
(a concat offset, a shuffle permutation, a grouped conv slot) removes live channels instead and changes it.
Only valid for groups without a LayerNorm/GroupNorm over the cut channels (their statistics change).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeprune.graph.depgraph import build_graph, head_groups, iter_groups
from edgeprune.graph.surgery import removals
from edgeprune.prune import Plan, apply_plan


def _silence_heads(model: nn.Module, root: str, keep: list[int], info) -> None:
    att = info.extra.get("qkv")
    module = model.get_submodule(root)
    if att is None:  # SplitAttention
        v, d, width, part = module.v_proj, module.head_dim, module.num_heads * module.head_dim, 0
    else:
        name, parts = att.projections[-1]  # the value projection is the last (or the last part of a fused one)
        v, d, width, part = module.get_submodule(name), att.head_dim, att.inner, parts - 1
    for h in set(range(info.width)) - set(keep):
        rows = slice(part * width + h * d, part * width + (h + 1) * d)
        v.weight[rows] = 0
        if v.bias is not None:
            v.bias[rows] = 0


def silenced(model: nn.Module, x: torch.Tensor, plan: Plan) -> nn.Module:
    """A copy of ``model`` whose channels dropped by ``plan`` produce exact zeros (shapes unchanged)."""
    model = copy.deepcopy(model).eval()
    dg = build_graph(model, x)
    units = {info.root: unit for info, unit in iter_groups(dg, model)}
    heads = {info.root: info for info, _ in head_groups(dg, model)}
    drops = [(units[g.root], sorted(set(range(g.width)) - set(g.keep))) for g in plan.groups if g.kind != "head"]
    with torch.no_grad():
        for dep, idxs in removals(drops).values():
            module, index = dep.target.module, sorted(idxs)
            if not dg.is_out_channel_pruning_fn(dep.handler):
                continue
            if isinstance(module, nn.modules.conv._ConvNd) and module.transposed:
                module.weight[:, index] = 0
            elif isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
                module.weight[index] = 0
            elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
                if module.weight is not None:
                    module.weight[index] = 0
            else:
                continue
            if getattr(module, "bias", None) is not None:
                module.bias[index] = 0
        for g in plan.groups:
            if g.kind == "head":
                _silence_heads(model, g.root, g.keep, heads[g.root])
    return model


def max_change(model: nn.Module, x: torch.Tensor, plan: Plan) -> float:
    """Largest output difference between the silenced model and the same model pruned by ``plan``, relative to
    the largest output when that is above 1 (float noise grows with the outputs of non-degenerate weights)."""
    quiet = silenced(model, x, plan)
    with torch.no_grad():
        reference = quiet(x)
        pruned = apply_plan(copy.deepcopy(quiet), plan, x).eval()
        return float((pruned(x) - reference).abs().max()) / max(1.0, float(reference.abs().max()))
