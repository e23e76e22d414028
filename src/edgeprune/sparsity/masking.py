"""Weight masks enforced with ``torch.nn.utils.parametrize``, and baked in (zeros kept) before export.

While a mask is attached, ``layer.weight`` is computed as ``original * mask`` on every access: the
optimizer updates ``original`` but the forward pass (and so the gradient of every masked entry) sees
zeros. The mask is a buffer, so it rides along in ``state_dict`` (fine-tune checkpoints, best-epoch
weights). :func:`bake` removes the parametrization and leaves a plain ``weight`` holding the zeros.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from edgeprune.errors import EdgepruneError

LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


class WeightMask(nn.Module):
    """Parametrization ``weight = original * mask`` (mask: float buffer of 0/1, same shape as the weight)."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(shape))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


@dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one layer's weight."""

    layer: str
    zeros: int
    weights: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0


def mask_of(layer: nn.Module) -> WeightMask | None:
    """The :class:`WeightMask` attached to ``layer.weight``, if any."""
    if not parametrize.is_parametrized(layer, "weight"):
        return None
    return next((p for p in layer.parametrizations.weight if isinstance(p, WeightMask)), None)


def attach(model: nn.Module, names: Iterable[str]) -> dict[str, WeightMask]:
    """Attach an all-ones mask to the weight of each named Conv/Linear layer (idempotent)."""
    masks = {}
    for name in names:
        layer = model.get_submodule(name)
        if not isinstance(layer, LAYERS):
            raise EdgepruneError(f"sparsity: '{name}' is a {type(layer).__name__}, not a Conv or Linear layer")
        mask = mask_of(layer)
        if mask is None:
            mask = WeightMask(layer.weight.shape).to(layer.weight.device)
            parametrize.register_parametrization(layer, "weight", mask)
        masks[name] = mask
    return masks


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight the forward pass uses (masked), detached."""
    return layer.weight.detach()


def bake(model: nn.Module) -> list[str]:
    """Remove every weight mask, keeping the masked values (zeros) in a plain ``weight``; returns the layers."""
    baked = []
    for name, layer in model.named_modules():
        if mask_of(layer) is not None:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
            baked.append(name)
    return baked


def sparsity_of(model: nn.Module, names: Iterable[str] | None = None) -> list[LayerSparsity]:
    """Exact zeros per Conv/Linear weight (all such layers, or ``names``)."""
    chosen = set(names) if names is not None else None
    rows = []
    for name, layer in model.named_modules():
        if isinstance(layer, LAYERS) and (chosen is None or name in chosen):
            w = effective_weight(layer)
            rows.append(LayerSparsity(name, int((w == 0).sum()), w.numel()))
    return rows


def overall(rows: list[LayerSparsity]) -> float:
    """Fraction of zeros over all the weights in ``rows``."""
    total = sum(r.weights for r in rows)
    return sum(r.zeros for r in rows) / total if total else 0.0
