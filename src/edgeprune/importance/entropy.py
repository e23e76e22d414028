"""Activation entropy (Luo & Wu, 2017, "An Entropy-based Pruning Method for CNN Compression", arXiv:1706.05791).

Each channel's feature map is global-average-pooled to one value per sample; the values over the choosing
samples are binned into a histogram and the channel scores its Shannon entropy (bits). A channel whose
pooled output barely varies across inputs (a dead ReLU channel is the extreme: entropy 0) carries little
information about the input, so **low entropy is pruned first**; higher score = keep.

The values are those a group index *feeds forward*: the inputs of the layers consuming it (after the
activation, and after the residual add where there is one), like the ``activation`` criterion; a group
no layer consumes falls back to its producers' outputs. Each channel's histogram spans its own min..max,
so the score measures spread in shape, not in scale.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance.group import LAYERS, NORMS, is_depthwise, is_out, layer_name, reduce_group
from edgeprune.importance.registry import Criterion, register_importance


def pooled(t: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """(N, C) per-sample channel means: spatial mean for convs, token mean for (N, T, C) Linear inputs."""
    t = t.detach().float().movedim(channel_dim, 1)
    return t.reshape(t.shape[0], t.shape[1], -1).mean(2)


def histogram_entropy(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Entropy in bits of each column of ``values`` (N, C), binned into ``bins`` equal bins over its range."""
    lo, hi = values.min(0).values, values.max(0).values
    span = hi - lo
    flat = span <= 1e-12 * torch.maximum(hi.abs(), lo.abs()).clamp_min(1e-30)
    scaled = (values - lo) / torch.where(flat, torch.ones_like(span), span)
    index = (scaled * bins).long().clamp_(0, bins - 1)
    counts = torch.zeros(values.shape[1], bins, dtype=torch.float64)
    counts.scatter_add_(1, index.t(), torch.ones_like(index.t(), dtype=torch.float64))
    p = counts / values.shape[0]
    h = -(p * torch.log2(p.clamp_min(1e-300))).sum(1)
    return torch.where(flat, torch.zeros_like(h), h).float()


@register_importance("entropy")
class Entropy(Criterion):
    """Entropy of each channel's pooled activation over the samples (low = uninformative = pruned first)."""

    name = "entropy"
    needs_data = True

    def __init__(self, bins: int = 32, batches: int = 16) -> None:
        if bins < 2:
            raise EdgepruneError(f"importance 'entropy': bins must be >= 2, got {bins}")
        self.bins = bins
        self.max_batches = batches
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        seen_in: dict[str, list[torch.Tensor]] = {}
        seen_out: dict[str, list[torch.Tensor]] = {}
        names = {m: n for n, m in model.named_modules()}

        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
                return
            dim = 1 if isinstance(module, nn.modules.conv._ConvNd) else -1
            name = names[module]
            seen_in.setdefault(name, []).append(pooled(args[0], dim))
            seen_out.setdefault(name, []).append(pooled(out, dim))

        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, LAYERS)]
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                for batch, start in enumerate(range(0, len(x), batch_size)):
                    if self.max_batches and batch >= self.max_batches:
                        break
                    model(x[start : start + batch_size])
        finally:
            model.train(was)
            for h in handles:
                h.remove()
        self.inputs = {k: histogram_entropy(torch.cat(v), self.bins) for k, v in seen_in.items()}
        self.outputs = {k: histogram_entropy(torch.cat(v), self.bins) for k, v in seen_out.items()}
        return self

    def _consumer(self, dep: Any, idxs: list[int]) -> list[torch.Tensor]:
        layer, name = dep.target.module, layer_name(dep)
        if not isinstance(layer, LAYERS) or name not in self.inputs or (is_out(dep) and not is_depthwise(layer)):
            return []
        h = self.inputs[name]
        index = torch.as_tensor(idxs, dtype=torch.long)
        return [h[index]] if int(index.max()) < h.numel() else []

    def _producer(self, dep: Any, idxs: list[int]) -> list[torch.Tensor]:
        name = layer_name(dep)
        if not is_out(dep) or name not in self.outputs or isinstance(dep.target.module, NORMS):
            return []
        return [self.outputs[name][torch.as_tensor(idxs, dtype=torch.long)]]

    def __call__(self, group: Any) -> torch.Tensor:
        if not self.inputs:
            raise EdgepruneError("importance 'entropy' needs data: call .prepare(model, x, y) first")
        consumed = any(self._consumer(dep, list(idxs)) for dep, idxs in group)
        return reduce_group(group, self._consumer if consumed else self._producer)
