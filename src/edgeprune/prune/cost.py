"""MACs and parameter counts (torch-pruning's counter, the numbers peers report)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from edgeprune.graph.attention import SplitAttention


def _split_attention_hook(module: SplitAttention, inputs: tuple[Any, ...], _output: Any) -> None:
    """Counted as torch-pruning counts ``nn.MultiheadAttention`` (scale, projections, scores, softmax, weighted
    sum), with the inner width (heads x head dim) apart from the embedding width."""
    x = inputs[0]
    batch, n = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
    e, inner, d = module.q_proj.in_features, module.num_heads * module.head_dim, module.head_dim
    bias = module.q_proj.bias is not None
    flops = n * inner + 3 * n * e * inner + (3 * n * inner if bias else 0)
    flops += module.num_heads * n * n * (2 * d + 1) + n * inner * module.out_proj.out_features
    flops += n * module.out_proj.out_features if bias else 0
    module.__flops__ += int(batch * flops)


def count_macs_params(model: nn.Module, example_input: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) of one forward pass on ``example_input``."""
    import torch_pruning as tp
    from torch_pruning.utils import op_counter

    op_counter.CUSTOM_MODULES_MAPPING[SplitAttention] = _split_attention_hook  # reset by torch-pruning after use
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        macs, params = tp.utils.count_ops_and_params(model, example_input)
    return int(macs), int(params)
