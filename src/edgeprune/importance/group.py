"""Aggregate per-parameter scores over every layer of a coupled group into one score per group index.

Each layer in a group contributes the scores of the slices it loses: output rows of the producing
Conv/Linear layers, input columns of the consuming ones, and the entries of norms. Contributions are
scattered onto the root's indices (``root_idxs``, which follow concat/split/flatten), averaged over
the contributing layers and normalized to mean 1, as torch-pruning's group importances do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError

# (layer name, layer, parameter attribute) -> elementwise score tensor shaped like the parameter, or None
ParamScore = Callable[[str, nn.Module, str], torch.Tensor | None]

LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def layer_name(dep: Any) -> str:
    """Module path of a dependency's target (stable across deep copies of the model)."""
    return getattr(dep.target, "_name", None) or ""


def is_out(dep: Any) -> bool:
    """True if the dependency prunes the target's outputs (rows) rather than its inputs."""
    return "out_channels" in getattr(dep.handler, "__name__", "") or "out_channel" in str(dep.handler)


def is_depthwise(layer: nn.Module) -> bool:
    return isinstance(layer, nn.modules.conv._ConvNd) and layer.groups > 1 and layer.groups == layer.out_channels


def _rows(t: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Per-output-index sums of a weight-shaped tensor."""
    if getattr(layer, "transposed", False):
        t = t.transpose(0, 1)
    return t.flatten(1).sum(1)


def _cols(t: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Per-input-index sums of a weight-shaped tensor (grouped convs repeat over groups)."""
    cols = t.flatten(1).sum(1) if getattr(layer, "transposed", False) else t.transpose(0, 1).flatten(1).sum(1)
    groups = getattr(layer, "groups", 1)
    if isinstance(layer, nn.modules.conv._ConvNd) and groups > 1 and groups != layer.in_channels:
        cols = cols.repeat(groups)
    return cols


def local_scores(dep: Any, idxs: list[int], score: ParamScore, bias: bool = True) -> list[torch.Tensor]:
    """Scores of the indices ``idxs`` that this one dependency removes (empty if the layer has none)."""
    layer = dep.target.module
    name = layer_name(dep)
    found: list[torch.Tensor] = []
    index = torch.as_tensor(idxs, dtype=torch.long)
    if isinstance(layer, LAYERS):
        w = score(name, layer, "weight")
        if w is not None:
            per = _rows(w, layer) if is_out(dep) or is_depthwise(layer) else _cols(w, layer)
            found.append(per[index])
        b = score(name, layer, "bias") if bias and layer.bias is not None and is_out(dep) else None
        if b is not None:
            found.append(b[index])
    elif isinstance(layer, NORMS) and getattr(layer, "weight", None) is not None:
        for attr in ("weight", "bias") if bias else ("weight",):
            t = score(name, layer, attr) if getattr(layer, attr, None) is not None else None
            if t is not None:
                found.append(t[index])
    return found


def reduce_group(
    group: Any, local: Callable[[Any, list[int]], list[torch.Tensor]], normalize: bool = True, mean: bool = True
) -> torch.Tensor:
    """Mean (or sum) over contributing layers of ``local(dep, idxs)`` on the root's indices, normalized to mean 1
    unless ``normalize`` is False."""
    width = len(group[0].idxs)
    total = torch.zeros(width, dtype=torch.float64)
    count = 0
    for i, (dep, idxs) in enumerate(group):
        root_idxs = group[i].root_idxs
        if any(r is None for r in root_idxs):
            continue
        for scores in local(dep, list(idxs)):
            total.scatter_add_(0, torch.as_tensor(root_idxs, dtype=torch.long), scores.detach().double().cpu())
            count += 1
    if count == 0:
        raise EdgepruneError(f"group rooted at '{layer_name(group[0].dep)}' has no layer this criterion can score")
    if mean:
        total /= count
    if normalize and total.mean() > 0:
        total /= total.mean()
    return total.float()
