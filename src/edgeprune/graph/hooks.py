"""Run one eval-mode forward pass with temporary hooks, restoring the mode and removing the hooks after."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def forward_with_hooks(
    model: nn.Module, example_input: torch.Tensor, handles: Iterable[RemovableHandle], grad: bool = False
) -> None:
    """Call ``model(example_input)`` in eval mode (with or without autograd), then remove ``handles``."""
    handles = list(handles)
    was = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(grad):
            model(example_input)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
