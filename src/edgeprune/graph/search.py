"""Bounded group search: every layer (and op) that loses indices when a root layer's outputs are pruned.

torch-pruning's search re-visits a node whenever it arrives with a different index list, which explodes on
graphs where indices come back in many subsets (residual adds into a slice of the channels). This search is a
fixpoint over ``(node, pruning function)`` keys: a key only propagates indices it has not seen, so the work is
bounded by nodes x width, and a deadline turns a slow search into :class:`GroupTimeout` instead of a hang.
It also records what torch-pruning loses: edges whose mapping is unknown (:class:`~edgeprune.graph.layout.Unmapped`)
and indices of one layer reached from two different root indices (the root indices are then tied).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgeprune.graph.layout import Unmapped
from edgeprune.graph.upstream import torch_pruning


class GroupTimeout(Exception):
    """The group search did not settle before its deadline."""


@dataclass
class Item:
    """One layer or op of a group: its dependency (handler, target), the indices it loses and their roots."""

    dep: Any
    idxs: list[int]
    root_idxs: list[int]

    def __iter__(self) -> Iterator[Any]:  # ``for dep, idxs in group`` as with torch-pruning groups
        yield self.dep
        yield self.idxs


@dataclass
class CoupledGroup:
    """The items of one group; iterates like a torch-pruning ``Group`` for importance criteria."""

    items: list[Item]
    unmapped: list[str] = field(default_factory=list)
    tied: list[tuple[int, int]] = field(default_factory=list)  # root index pairs that must go together

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, k: int) -> Item:
        return self.items[k]

    def __len__(self) -> int:
        return len(self.items)


def root_function(dg: Any, module: Any) -> Any:
    """The pruning function that removes ``module``'s outputs (depthwise convs couple inputs and outputs)."""
    tp = torch_pruning()

    pruner = dg.get_pruner_of_module(module)
    if isinstance(module, tp.ops.TORCH_CONV) and module.groups == module.out_channels and module.out_channels > 1:
        return tp.pruner.function.prune_depthwise_conv_out_channels
    return pruner.prune_out_channels


def collect(dg: Any, module: Any, idxs: list[int], deadline: float | None = None) -> CoupledGroup:
    """The group that removes outputs ``idxs`` of ``module`` (a node of ``dg``), in the root's numbering."""
    from torch_pruning._helpers import _HybridIndex
    from torch_pruning.dependency.dependency import Dependency

    node = dg.module2node[module]
    fn = root_function(dg, module)
    root_dep = Dependency(fn, fn, source=node, target=node)
    found: dict[tuple[Any, Any], tuple[Any, dict[int, int]]] = {(node, fn): (root_dep, {i: i for i in idxs})}
    stack = [(root_dep, [_HybridIndex(idx=i, root_idx=i) for i in idxs])]
    unmapped: list[str] = []
    tied: set[tuple[int, int]] = set()
    steps = 0
    while stack:
        steps += 1
        if deadline is not None and steps % 64 == 1 and time.process_time() > deadline:
            raise GroupTimeout(f"group search from '{dg._module2name.get(module, module)}' did not settle in time")
        dep, current = stack.pop()
        target, handler = dep.target, dep.handler
        for nxt in target.dependencies:
            if not nxt.is_triggered_by(handler):
                continue
            new = current
            for mapping in nxt.index_mapping:
                if isinstance(mapping, Unmapped) and mapping.reason not in unmapped:
                    unmapped.append(mapping.reason)
                if mapping is not None:
                    new = mapping(new)
            if not new:
                continue
            key = (nxt.target, nxt.handler)
            entry = found.get(key)
            if entry is None:
                entry = found[key] = (nxt, {})
            seen = entry[1]
            fresh = []
            for h in new:
                known = seen.get(h.idx)
                if known is None:
                    seen[h.idx] = h.root_idx
                    fresh.append(h)
                elif known != h.root_idx and h.root_idx is not None and known is not None:
                    tied.add((min(known, h.root_idx), max(known, h.root_idx)))
            if fresh:
                stack.append((nxt, fresh))
    items = []
    for dep, seen in found.values():
        order = sorted(seen)
        items.append(Item(dep, order, [seen[i] for i in order]))
    return CoupledGroup(items, unmapped, sorted(tied))
