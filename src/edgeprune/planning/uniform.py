"""Uniform allocation: the single channel ratio, applied to every group, that meets a MACs budget."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from edgeprune.errors import EdgepruneError

PruneAt = Callable[[float], tuple[nn.Module, int]]


def smallest_ratio_meeting(
    prune_at: PruneAt, budget_macs: int, max_ratio: float = 0.9, tol: float = 0.005
) -> tuple[float, nn.Module, int]:
    """Bisect the uniform ratio r in [0, max_ratio] for the least pruning whose MACs <= ``budget_macs``.

    ``prune_at(r)`` returns a freshly pruned copy and its MACs; MACs fall monotonically with r.
    """
    model, macs = prune_at(max_ratio)
    if macs > budget_macs:
        raise EdgepruneError(
            f"even pruning {max_ratio:.0%} of every group leaves {macs:,} MACs, above the budget {budget_macs:,};"
            " raise prune.max_ratio or loosen the budget"
        )
    lo, hi, best = 0.0, max_ratio, (max_ratio, model, macs)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        model, macs = prune_at(mid)
        if macs <= budget_macs:
            hi, best = mid, (mid, model, macs)
        else:
            lo = mid
    return best


def output_layers(model: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """Linear/conv layers whose output is the model output (never prune the class dimension)."""
    last: list[nn.Module] = []

    def hook(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        last.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(example)
    for h in handles:
        h.remove()
    return last[-1:]


def prune_uniform_copy(
    model: nn.Module, example: torch.Tensor, ratio: float, round_to: int = 1
) -> tuple[nn.Module, int]:
    """A pruned deep copy: every coupled group loses ``ratio`` of its channels, by L2 magnitude."""
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    pruner = tp.pruner.MetaPruner(
        pruned,
        example,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=output_layers(pruned, example),
        round_to=round_to if round_to > 1 else None,
    )
    pruner.step()
    macs, _ = tp.utils.count_ops_and_params(pruned, example)
    return pruned, int(macs)
