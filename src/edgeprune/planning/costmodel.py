"""Costs the planner's search can budget: the :class:`PlanningCost` protocol, and the built-in MACs/params model.

The allocator only asks a cost for ``fraction(kept, dropped, kind)``; any object with that method plugs in
(dependency injection: e.g. ``edgeprune.latency`` provides a measured-latency cost without planning importing it).

In the built-in model each Conv/Linear layer costs ``base * f_out * f_in`` where ``f_out`` is the kept fraction of
the group whose outputs it produces and ``f_in`` that of the group it consumes (a depthwise conv scales once);
norm parameters scale with their group; layers under a dropped block cost nothing. The planner verifies
its final choice by pruning for real and counting exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.cost import layer_macs
from edgeprune.paths import is_under

LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


@runtime_checkable
class PlanningCost(Protocol):
    """A cost the allocator can budget: its fraction of the unpruned model's cost for a candidate cut.

    ``kept`` maps group roots to the kept fraction of their width (missing: 1.0); ``dropped`` lists removed
    blocks; ``kind`` names what is counted (``"macs"``, ``"params"``, ``"latency"``, ...). The fraction must not
    grow when a group is cut deeper or a block is dropped.
    """

    def fraction(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str) -> float: ...


@dataclass
class _Layer:
    path: str
    macs: int
    params: int
    out_group: str | None
    in_group: str | None
    depthwise: bool


class CostModel:
    """MACs and params of the model as functions of per-group kept fractions and dropped blocks (a PlanningCost)."""

    kinds = ("macs", "params")

    def __init__(self, model: nn.Module, example: torch.Tensor, groups: Iterable[tuple[str, list[str], list[str]]]):
        """``groups``: (root, members, consumers) for every group the planner may shrink."""
        macs = layer_macs(model, example)
        out_of: dict[str, str] = {}
        in_of: dict[str, str] = {}
        for root, members, consumers in groups:
            for m in members:
                out_of.setdefault(m, root)
            for c in consumers:
                in_of.setdefault(c, root)
        self.layers: list[_Layer] = []
        for path, module in model.named_modules():
            own = sum(p.numel() for p in module.parameters(recurse=False))
            if not own and not macs.get(path):
                continue
            depthwise = isinstance(module, nn.modules.conv._ConvNd) and 1 < module.groups == module.out_channels
            is_layer = isinstance(module, LAYERS)
            in_group = in_of.get(path) if is_layer and not depthwise else None
            self.layers.append(_Layer(path, macs.get(path, 0), own, out_of.get(path), in_group, depthwise))
        self.full = {"macs": self.total({}, (), "macs"), "params": self.total({}, (), "params")}

    def total(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str = "macs") -> float:
        """Cost with ``kept[root]`` fraction of each group's indices kept and the ``dropped`` blocks removed."""
        dropped = list(dropped)
        total = 0.0
        for layer in self.layers:
            if dropped and is_under(layer.path, dropped):
                continue
            f = kept.get(layer.out_group, 1.0) if layer.out_group else 1.0
            if layer.in_group:
                f *= kept.get(layer.in_group, 1.0)
            total += (layer.macs if kind == "macs" else layer.params) * f
        return total

    def fraction(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str = "macs") -> float:
        if kind not in self.kinds:
            raise EdgepruneError(f"the MACs/params cost model cannot count '{kind}' (it counts {list(self.kinds)})")
        return self.total(kept, dropped, kind) / max(self.full[kind], 1.0)
