"""MACs and parameter counts (torch-pruning's counter, the numbers peers report)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def count_macs_params(model: nn.Module, example_input: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) of one forward pass on ``example_input``."""
    import torch_pruning as tp

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        macs, params = tp.utils.count_ops_and_params(model, example_input)
    return int(macs), int(params)
