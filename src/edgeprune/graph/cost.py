"""Per-layer MACs from one forward pass (Conv, Linear, (Split)MultiheadAttention), for shares in the analysis."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from edgeprune.graph.attention import SplitAttention
from edgeprune.graph.hooks import forward_with_hooks


def _layer_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> int:
    if isinstance(module, nn.modules.conv._ConvNd) and isinstance(output, torch.Tensor):
        kernel = math.prod(module.kernel_size)
        return output.numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear) and isinstance(output, torch.Tensor):
        return output.numel() * module.in_features
    if isinstance(module, nn.MultiheadAttention) and inputs and isinstance(inputs[0], torch.Tensor):
        tokens = inputs[0].numel() // module.embed_dim
        seq = inputs[0].shape[1] if module.batch_first else inputs[0].shape[0]
        e = module.embed_dim
        return tokens * 4 * e * e + 2 * tokens * seq * e  # q/k/v/out projections + scores and weighted sum
    if isinstance(module, SplitAttention) and inputs and isinstance(inputs[0], torch.Tensor):
        x = inputs[0]
        tokens, seq = x.numel() // x.shape[-1], x.shape[1] if module.batch_first else x.shape[0]
        return 2 * tokens * seq * module.num_heads * module.head_dim  # scores and weighted sum (projections: Linear)
    return 0


def layer_macs(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """Layer path -> MACs of one forward pass (other layers count as 0)."""
    names = {m: n for n, m in model.named_modules()}
    macs: dict[str, int] = {}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        n = _layer_macs(module, inputs, output)
        if n:
            macs[names[module]] = macs.get(names[module], 0) + n

    kinds = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention, SplitAttention)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    forward_with_hooks(model, example_input, handles)
    return macs


def subtree_sum(values: dict[str, int], path: str) -> int:
    """Sum of ``values`` over ``path`` and every layer below it."""
    prefix = path + "."
    return sum(v for k, v in values.items() if k == path or k.startswith(prefix))
