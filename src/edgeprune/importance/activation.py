"""Activation-weighted magnitude: importance(j) = mean|x_j| * sum_i |w_ij| over every layer consuming index j.

That is the average magnitude index j contributes to the next layer's outputs (channels that are large but
rarely active, or active but multiplied by tiny weights, both score low). Activations come from forward
hooks on each Conv/Linear input; a depthwise conv's channel j sees only its own filter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.importance.group import LAYERS, NORMS, _cols, _rows, is_depthwise, is_out, layer_name, reduce_group
from edgeprune.importance.registry import Criterion, register_importance


def _channel_mean_abs(t: torch.Tensor, channel_dim: int) -> torch.Tensor:
    t = t.detach().abs().movedim(channel_dim, 0)
    return t.reshape(t.shape[0], -1).mean(1)


@register_importance("activation")
class Activation(Criterion):
    """|w| x mean |input activation| per consumed index; producers score by mean |output| when unconsumed."""

    name = "activation"
    needs_data = True

    def __init__(self, batches: int = 16) -> None:
        self.max_batches = batches
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        sums_in: dict[str, torch.Tensor] = {}
        sums_out: dict[str, torch.Tensor] = {}
        names = {m: n for n, m in model.named_modules()}

        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            if not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
                return
            dim = 1 if isinstance(module, nn.modules.conv._ConvNd) else -1
            name = names[module]
            for table, t in ((sums_in, args[0]), (sums_out, out)):
                m = _channel_mean_abs(t, dim)
                table[name] = table[name] + m if name in table else m

        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, LAYERS)]
        was = model.training
        model.eval()
        batches = 0
        try:
            with torch.no_grad():
                for start in range(0, len(x), batch_size):
                    if self.max_batches and batches >= self.max_batches:
                        break
                    model(x[start : start + batch_size])
                    batches += 1
        finally:
            model.train(was)
            for h in handles:
                h.remove()
        self.inputs = {k: v / batches for k, v in sums_in.items()}
        self.outputs = {k: v / batches for k, v in sums_out.items()}
        return self

    def _local(self, dep: Any, idxs: list[int]) -> list[torch.Tensor]:
        layer, name = dep.target.module, layer_name(dep)
        if not isinstance(layer, LAYERS) or name not in self.inputs:
            return []
        index = torch.as_tensor(idxs, dtype=torch.long)
        w = layer.weight.detach().abs()
        if is_depthwise(layer):
            return [(_rows(w, layer) * self.inputs[name])[index]]
        if is_out(dep):
            return []
        act = self.inputs[name]
        cols = _cols(w, layer)
        if act.numel() != cols.numel():
            return []
        return [(cols * act)[index]]

    def __call__(self, group: Any) -> torch.Tensor:
        if not self.inputs:
            from edgeprune.errors import EdgepruneError

            raise EdgepruneError("importance 'activation' needs data: call .prepare(model, x, y) first")
        consumed = any(self._local(dep, list(idxs)) for dep, idxs in group)
        if consumed:
            return reduce_group(group, self._local)
        return reduce_group(group, self._producer_local)

    def _producer_local(self, dep: Any, idxs: list[int]) -> list[torch.Tensor]:
        name = layer_name(dep)
        if not is_out(dep) or name not in self.outputs or isinstance(dep.target.module, NORMS):
            return []
        return [self.outputs[name][torch.as_tensor(idxs, dtype=torch.long)]]
