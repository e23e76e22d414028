"""make_plan: choose, per verified coupled group, which output indices to keep; record the groups left alone."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph import cache as graph_cache
from edgeprune.graph.attention import SplitAttention, has_multihead_attention, split_all
from edgeprune.graph.depgraph import (
    GroupInfo,
    build_graph,
    head_groups,
    iter_groups,
    module_names,
    resolve_layers,
)
from edgeprune.graph.trace import ignore_advice
from edgeprune.graph.verify import apply_verdicts, verify
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.heads import head_keep_count, head_scores
from edgeprune.prune.importance import Scorer, resolve_importance
from edgeprune.prune.plan import GroupKeep, LeftAlone, Plan
from edgeprune.prune.rounding import keep_count, keep_step


def keep_indices(scores: torch.Tensor, width: int, channel_groups: int, keep: int) -> list[int]:
    """Indices of the ``keep`` best scores per channel slice (the same ones in every slice)."""
    per_slice = width // channel_groups
    slice_scores = scores.detach().float().reshape(channel_groups, per_slice).mean(0)
    best = torch.argsort(slice_scores, descending=True, stable=True)[:keep].sort().values.tolist()
    return [s * per_slice + i for s in range(channel_groups) for i in best]


def unit_keep(unit: Any, scores: torch.Tensor, ratio: float, round_to: int) -> list[int] | None:
    """Indices of a unit to keep at ``ratio``: whole bundles, the same number in every cell, best summed scores;
    None if the rounding keeps everything. The classic case (no bundles, consecutive cells) keeps the same
    slots in every cell (:func:`keep_indices`)."""
    cells = unit.cell_count
    if unit.plain:
        keep = keep_count(unit.width, cells, ratio, round_to)
        if keep * cells >= unit.width:
            return None
        return keep_indices(scores, unit.width, cells, keep)
    per_cell = len(unit.bundle_members()) // cells
    step_round = max(1, round_to // math.gcd(round_to, unit.bundle_size))
    keep = keep_count(per_cell * cells, cells, ratio, step_round)
    if keep >= per_cell:
        return None
    return _keep_bundles(unit, scores, keep)


def _keep_bundles(unit: Any, scores: torch.Tensor, keep: int) -> list[int]:
    """The ``keep`` best bundles (summed scores) of every cell of ``unit``."""
    values = scores.detach().float()
    by_cell: dict[int, list[tuple[float, list[int]]]] = {}
    for members in unit.bundle_members().values():
        by_cell.setdefault(unit.cells[members[0]], []).append((float(values[members].sum()), members))
    kept: list[int] = []
    for options in by_cell.values():
        order = sorted(range(len(options)), key=lambda k: -options[k][0])[:keep]
        kept += [u for k in order for u in options[k][1]]
    return sorted(kept)


def unit_keep_removing(unit: Any, scores: torch.Tensor, removed: int) -> list[int] | None:
    """Indices of a unit to keep after removing exactly ``removed`` indices, evenly over its cells and in whole
    bundles; None when ``removed`` cannot be split that way."""
    step = unit.cell_count * unit.bundle_size
    if removed <= 0 or removed % step or removed >= unit.width:
        return None
    if unit.plain:
        return keep_indices(scores, unit.width, unit.cell_count, (unit.width - removed) // unit.cell_count)
    per_cell = len(unit.bundle_members()) // unit.cell_count
    return _keep_bundles(unit, scores, per_cell - removed // step)


@dataclass
class Prunable:
    """What a planner may prune on a (split, block-dropped) working copy: verified groups and head groups."""

    work: nn.Module
    attention: list[str]
    groups: list[tuple[GroupInfo, Any]]
    heads: list[tuple[GroupInfo, Any]]
    source: nn.Module | None = None  # the model planned (``work`` or its unpruned original)

    def left_alone(self) -> list[LeftAlone]:
        return [LeftAlone(i.root, i.note or "not prunable") for i, _ in self.groups + self.heads if not i.prunable]


_PRUNABLE: dict[tuple, Prunable] = {}  # the last one: a bisection plans the same model many times


def _fingerprint(model: nn.Module) -> tuple:
    """Changes when a parameter is replaced or updated in place (its storage or version counter)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def prunable_groups(
    model: nn.Module,
    example_input: torch.Tensor,
    blocks: Iterable[str] = (),
    ignored_layers: Iterable[str | nn.Module] = (),
    round_to: int = 1,
    split_heads: bool = True,
) -> Prunable:
    """Groups of ``model`` (copied if blocks are dropped or attention split) with each verified by pruning it.

    The result for the last (model, weights, settings) is kept: planning the same model again reuses its trace."""
    names = {m: n for n, m in model.named_modules()}
    ignored_names = [names.get(layer, "?") if isinstance(layer, nn.Module) else layer for layer in ignored_layers]
    blocks = list(blocks)
    key = (
        id(model),
        graph_cache.structure_key(model, example_input),
        _fingerprint(model),
        tuple(blocks),
        tuple(ignored_names),
        round_to,
        split_heads,
    )
    hit = _PRUNABLE.get(key)
    if hit is not None and hit.source is model:
        return hit
    split = split_heads and has_multihead_attention(model)
    work = drop_blocks(copy.deepcopy(model), blocks) if blocks or split else model
    attention = split_all(work, example_input) if split else []
    dg = build_graph(work, example_input)
    graph_cache.remember(work, example_input, dg)
    ignored = resolve_layers(work, [*dg.outputs, *ignored_names])
    ignored += [m.out_proj for m in ignored if isinstance(m, SplitAttention)]  # as before: keeps the stream too
    groups = iter_groups(dg, work, ignored)
    heads = head_groups(dg, work, ignored)
    paths = module_names(work)
    ignored_paths = sorted(paths[m] for m in ignored if m in paths)
    was = work.training
    try:
        verdicts = verify(dg, work.eval(), example_input, groups, heads, round_to, ignored_paths)
    finally:
        work.train(was)
    apply_verdicts(groups + heads, verdicts)
    found = Prunable(work, attention, groups, heads, model)
    _PRUNABLE.clear()
    _PRUNABLE[key] = found
    return found


def _with_heads(
    info: GroupInfo, unit: Any, heads: list[tuple[GroupInfo, Any]], scorer: Scorer, ratio: float, round_to: int
) -> list[GroupKeep]:
    """A width that attention layers divide into heads: every one of them loses the same number of whole heads
    and the width loses head dim x that many channels (best by score on each side)."""
    head_dim, count = info.extra["head_dim"], heads[0][0].width
    keep_heads = keep_count(count, 1, ratio, max(1, round_to // math.gcd(round_to, head_dim)))
    step = unit.cell_count * unit.bundle_size  # the width also splits evenly into cells (a chunk, a grouped conv)
    while keep_heads < count and ((count - keep_heads) * head_dim) % step:
        keep_heads += 1
    if keep_heads >= count:
        return []
    with torch.no_grad():
        scores = scorer(unit)
    if scores is None or scores.numel() != info.width:
        raise EdgepruneError(f"importance gave no scores for group '{info.root}'; {ignore_advice(info.root)}")
    width_keep = unit_keep_removing(unit, scores, (count - keep_heads) * head_dim)
    assert width_keep is not None  # the removal was made a multiple of the unit's step above
    kept = [GroupKeep(info.root, info.kind, info.width, width_keep)]
    for head_info, group in heads:
        head = head_scores(scorer, group, head_info.width, head_info.root)
        best = torch.argsort(head, descending=True, stable=True)[:keep_heads].sort().values.tolist()
        kept.append(GroupKeep(head_info.root, "head", head_info.width, best))
    return kept


def _ratio_table(
    ratios: Mapping[str, float] | float, infos: list[GroupInfo], max_ratio: float
) -> tuple[dict[str, float], list[LeftAlone]]:
    """Group root -> ratio for prunable groups; dict keys may name the root or any member layer of a group.
    Keys naming a group that is not prunable are reported as left alone."""

    def check(name: str, value: float) -> float:
        if not 0.0 <= float(value) < 1.0:
            raise EdgepruneError(f"pruning ratio for '{name}' is {value}; it must lie in [0, 1)")
        return min(float(value), max_ratio)

    if isinstance(ratios, (int, float)):
        r = check("all groups", ratios)
        return {info.root: r for info in infos if info.prunable}, []
    owner = {m: info for info in infos for m in [*info.members, info.root]}
    table: dict[str, float] = {}
    skipped: list[LeftAlone] = []
    for key, value in ratios.items():
        info = owner.get(key)
        if info is None:
            roots = [i.root for i in infos if i.prunable][:8]
            raise EdgepruneError(f"ratios: '{key}' is not a layer of any prunable group (group roots include {roots})")
        ratio = check(key, value)
        if info.prunable:
            table[info.root] = ratio
        elif ratio > 0:
            skipped.append(LeftAlone(info.root, f"ratio {ratio} requested but left alone: {info.note}"))
    return table, skipped


def _finer_step(unit: Any, keep: list[int], step: int, round_to: int) -> int | None:
    """The coarsest halving of ``round_to`` the kept width is a multiple of, when ``round_to`` itself does not allow
    it (the group needed a finer step than ``round_to``); None when it does."""
    if step >= round_to:
        return None
    cells = unit.cell_count
    if unit.plain:
        kept, per_level = len(keep) // cells, lambda r: keep_step(cells, r)
    else:
        kept = len(keep) // (cells * unit.bundle_size)
        per_level = lambda r: max(1, r // math.gcd(r, unit.bundle_size))  # noqa: E731
    level = round_to
    while kept % per_level(level):
        level = level // 2 if level % 2 == 0 and level // 2 >= step else step
        if level == step:
            break
    return None if level == round_to else level


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
    finer: Mapping[str, int] | None = None,
) -> Plan:
    """Plan to prune ``ratios`` of each coupled group (by root name, or one float for all) and drop ``blocks``.

    ``model`` is left untouched. The classifier head (the layer producing the model output) is never
    pruned, and neither is any group analysis could not verify (:mod:`edgeprune.graph.verify`): those are
    listed in ``plan.left_alone`` with the reason. ``spec`` (a :class:`edgeprune.models.ModelSpec` or its dict) is
    recorded so the plan can be replayed. With ``split_heads``, self-attention ``nn.MultiheadAttention`` layers are
    rebuilt as ``SplitAttention`` (recorded in ``plan.attention``) and get a ``head`` group each (key: the attention's
    path), pruned in whole heads, as are attention layers written as a qkv Linear plus a reshape into heads;
    ``blocks`` may name residual branches (``"encoder.layers.encoder_layer_0:mlp"``). ``finer`` maps group roots
    to a smaller step than ``round_to`` for those groups (recorded on each group whose width needs it).
    """
    if round_to < 1:
        raise EdgepruneError(f"round_to is {round_to}; it must be >= 1")
    blocks = list(blocks)
    finer = dict(finer or {})
    verify_step = min([round_to, *finer.values()])  # a group too narrow for round_to may take a finer step
    found = prunable_groups(model, example_input, blocks, ignored_layers, verify_step, split_heads)
    table, skipped = _ratio_table(ratios, [i for i, _ in found.groups + found.heads], max_ratio)
    scorer = resolve_importance(importance)
    kept: list[GroupKeep] = []
    heads_by_root = {info.root: (info, group) for info, group in found.heads}
    for info, unit in found.groups:
        ratio = table.get(info.root, 0.0)
        if not info.prunable or ratio <= 0.0:
            continue
        step = finer.get(info.root, round_to)
        if info.extra.get("with_heads"):
            kept += _with_heads(info, unit, [heads_by_root[r] for r in info.extra["with_heads"]], scorer, ratio, step)
            continue
        if unit_keep(unit, torch.zeros(info.width), ratio, step) is None:
            continue  # rounding keeps every index
        with torch.no_grad():
            scores = scorer(unit)
        if scores is None or scores.numel() != info.width:
            raise EdgepruneError(f"importance gave no scores for group '{info.root}'; {ignore_advice(info.root)}")
        keep_idxs = unit_keep(unit, scores, ratio, step)
        kept.append(
            GroupKeep(info.root, info.kind, info.width, keep_idxs, _finer_step(unit, keep_idxs, step, round_to))
        )
    for info, group in found.heads:
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
        model=spec.to_dict() if hasattr(spec, "to_dict") else (dict(spec) if spec else None),
        round_to=round_to,
        importance=importance if isinstance(importance, str) else getattr(importance, "__name__", "custom"),
        attention=found.attention,
        left_alone=[*found.left_alone(), *skipped],
    )
