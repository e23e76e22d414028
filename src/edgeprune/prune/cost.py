"""MACs and parameter counts: the one counter of :mod:`edgeprune.graph.cost` (per layer in ``analyze``)."""

from __future__ import annotations

import torch
from torch import nn

from edgeprune.graph.cost import count_cost


def count_macs_params(model: nn.Module, example_input: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) of one forward pass on ``example_input``: conv, linear and matrix products
    (attention scores and weighted sums) count; norms, activations and pooling do not (see ``graph/cost.py``)."""
    cost = count_cost(model, example_input)
    return int(cost.macs), int(cost.params)
