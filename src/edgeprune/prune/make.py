"""make_plan: choose, per coupled group, which output indices to keep."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention, has_multihead_attention, split_all
from edgeprune.graph.depgraph import (
    GroupInfo,
    build_graph,
    group_of,
    head_groups,
    iter_groups,
    output_layers,
    resolve_layers,
)
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.heads import head_keep_count, head_scores
from edgeprune.prune.importance import Scorer, resolve_importance
from edgeprune.prune.plan import GroupKeep, Plan


def keep_count(width: int, channel_groups: int, ratio: float, round_to: int) -> int:
    """Indices kept per channel slice when pruning ``ratio`` of ``width``, rounded so the total is a
    multiple of ``round_to`` (never below one step, never above the width)."""
    per_slice = width // channel_groups
    keep = int(per_slice * (1.0 - ratio) + 1e-6)
    step = round_to // math.gcd(round_to, channel_groups)
    keep -= keep % step
    if keep < 1:
        keep = min(step, per_slice)
    return max(1, min(per_slice, keep))


def _ratio_table(ratios: Mapping[str, float] | float, infos: list[GroupInfo], max_ratio: float) -> dict[str, float]:
    """Group root -> ratio; dict keys may name the root or any member layer of a group."""

    def check(name: str, value: float) -> float:
        if not 0.0 <= float(value) < 1.0:
            raise EdgepruneError(f"pruning ratio for '{name}' is {value}; it must lie in [0, 1)")
        return min(float(value), max_ratio)

    if isinstance(ratios, (int, float)):
        r = check("all groups", ratios)
        return {info.root: r for info in infos}
    owner = {m: info.root for info in infos for m in [*info.members, info.root]}
    table: dict[str, float] = {}
    for key, value in ratios.items():
        if key not in owner:
            roots = [i.root for i in infos][:8]
            raise EdgepruneError(f"ratios: '{key}' is not a layer of any prunable group (group roots include {roots})")
        table[owner[key]] = check(key, value)
    return table


def keep_indices(scores: torch.Tensor, width: int, channel_groups: int, keep: int) -> list[int]:
    """Indices of the ``keep`` best scores per channel slice (the same ones in every slice)."""
    per_slice = width // channel_groups
    slice_scores = scores.detach().float().reshape(channel_groups, per_slice).mean(0)
    best = torch.argsort(slice_scores, descending=True, stable=True)[:keep].sort().values.tolist()
    return [s * per_slice + i for s in range(channel_groups) for i in best]


def make_plan(
    model: nn.Module,
    example_input: torch.Tensor,
    ratios: Mapping[str, float] | float,
    importance: str | Scorer = "magnitude",
    blocks: Iterable[str] = (),
    round_to: int = 1,
    ignored_layers: Iterable[str | nn.Module] = (),
    max_ratio: float = 0.9,
    spec: Any = None,
    split_heads: bool = True,
) -> Plan:
    """Plan to prune ``ratios`` of each coupled group (by root name, or one float for all) and drop ``blocks``.

    ``model`` is left untouched. The classifier head (the layer producing the model output) is never
    pruned. ``spec`` (an :class:`edgeprune.models.ModelSpec`) is recorded so the plan can be replayed.
    With ``split_heads``, self-attention ``nn.MultiheadAttention`` layers are rebuilt as ``SplitAttention``
    (recorded in ``plan.attention``) and get a ``head`` group each (key: the attention's path), pruned in whole
    heads; ``blocks`` may name residual branches (``"encoder.layers.encoder_layer_0:mlp"``).
    """
    if round_to < 1:
        raise EdgepruneError(f"round_to is {round_to}; it must be >= 1")
    blocks = list(blocks)
    names = {m: n for n, m in model.named_modules()}
    ignored_names = [names.get(layer, "?") if isinstance(layer, nn.Module) else layer for layer in ignored_layers]
    split = split_heads and has_multihead_attention(model)
    work = drop_blocks(copy.deepcopy(model), blocks) if blocks or split else model
    attention = split_all(work, example_input) if split else []
    ignored = resolve_layers(work, [*output_layers(work, example_input), *ignored_names])
    ignored += [m.out_proj for m in ignored if isinstance(m, SplitAttention)]  # as before: keeps the stream too
    dg = build_graph(work, example_input)
    infos = [info for info, _ in iter_groups(dg, work, ignored)]
    heads = head_groups(dg, work, ignored)
    table = _ratio_table(ratios, [i for i in infos + [h for h, _ in heads] if i.prunable], max_ratio)
    scorer = resolve_importance(importance)
    kept: list[GroupKeep] = []
    for info in infos:
        ratio = table.get(info.root, 0.0)
        if not info.prunable or ratio <= 0.0:
            continue
        keep = keep_count(info.width, info.channel_groups, ratio, round_to)
        if keep * info.channel_groups >= info.width:
            continue
        group = group_of(dg, work, info.root, list(range(info.width)))
        with torch.no_grad():
            scores = scorer(group)
        if scores is None or scores.numel() != info.width:
            raise EdgepruneError(f"importance gave no scores for group '{info.root}'; add it to ignored_layers")
        keep_idxs = keep_indices(scores, info.width, info.channel_groups, keep)
        kept.append(GroupKeep(info.root, info.kind, info.width, keep_idxs))
    for info, group in heads:
        ratio = table.get(info.root, 0.0)
        if not info.prunable or ratio <= 0.0:
            continue
        keep = head_keep_count(info.width, info.extra["head_dim"], ratio, round_to)
        if keep >= info.width:
            continue
        scores = head_scores(scorer, group, info.width, info.root)
        best = torch.argsort(scores, descending=True, stable=True)[:keep].sort().values.tolist()
        kept.append(GroupKeep(info.root, "head", info.width, best))
    return Plan(
        input_shape=list(example_input.shape),
        groups=kept,
        blocks=blocks,
        model=spec.to_dict() if spec is not None else None,
        round_to=round_to,
        importance=importance if isinstance(importance, str) else getattr(importance, "__name__", "custom"),
        attention=attention,
    )
