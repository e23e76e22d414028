"""The one MAC and parameter counter: per layer and in total, from one forward pass.

What counts (multiply-accumulates, one per multiply-add):

- convolutions (``nn.Conv*``, ``nn.ConvTranspose*`` and functional ``F.conv*``): output elements x input
  channels per group x kernel size (transposed: input elements x output channels per group x kernel size);
- linear layers (``nn.Linear``, functional ``F.linear``): output elements x input features;
- matrix products (``matmul``/``@``, ``bmm``, ``baddbmm``, ``einsum``, ``scaled_dot_product_attention``), i.e. the
  attention scores and the weighted sum of qkv-style attention;
- ``nn.MultiheadAttention``: its four projections plus scores and weighted sum (counted as one layer, since its
  fast path hides the inner ops).

Not counted: biases, norms, activations, pooling, softmax and other elementwise ops (memory-bound and small; the
convention of torchvision's model tables, whose "GFLOPS" are these MACs: mobilenet_v2 0.30, resnet50 4.09).

A layer's MACs are keyed by the module path that owns the weight (``F.linear(x, self.qkv.weight)`` counts for
``...qkv``) or, for weightless products, by the innermost module running (``...attn`` for ``q @ k.T``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Cost:
    """MACs per layer path and the totals of one forward pass."""

    layers: dict[str, int]
    macs: int
    params: int


def _conv(args: tuple[Any, ...], kwargs: dict[str, Any], out: torch.Tensor, transposed: bool) -> int:
    x = args[0]
    weight = args[1] if len(args) > 1 else kwargs["weight"]
    if transposed:
        # weight: (in, out / groups, *kernel); every input element meets out / groups x kernel weights
        return x.numel() * weight.shape[1] * math.prod(weight.shape[2:])
    return out.numel() * weight.shape[1] * math.prod(weight.shape[2:])


def _linear(args: tuple[Any, ...], kwargs: dict[str, Any], out: torch.Tensor) -> int:
    weight = args[1] if len(args) > 1 else kwargs["weight"]
    return out.numel() * weight.shape[-1]


def _matmul(args: tuple[Any, ...], _kwargs: dict[str, Any], out: torch.Tensor) -> int:
    a = args[0]
    inner = a.shape[-1] if a.dim() > 0 else 1
    return out.numel() * inner


def _baddbmm(args: tuple[Any, ...], _kwargs: dict[str, Any], out: torch.Tensor) -> int:
    return out.numel() * args[1].shape[-1]


def _einsum(args: tuple[Any, ...], _kwargs: dict[str, Any], out: torch.Tensor) -> int:
    operands = args[1:] if len(args) > 2 else args[1]
    if len(operands) != 2:
        return 0
    # contracted size: product of the sizes of indices that appear in the inputs but not in the output
    spec = args[0].replace(" ", "")
    inputs, _, output = spec.partition("->")
    sizes: dict[str, int] = {}
    for term, tensor in zip(inputs.split(","), operands, strict=False):
        for letter, size in zip(term.replace("...", ""), tensor.shape[-len(term.replace("...", "")) :], strict=False):
            sizes[letter] = int(size)
    contracted = math.prod(s for letter, s in sizes.items() if letter not in output)
    return out.numel() * contracted


def _sdpa(args: tuple[Any, ...], kwargs: dict[str, Any], _out: torch.Tensor) -> int:
    q = args[0] if args else kwargs["query"]
    k = args[1] if len(args) > 1 else kwargs["key"]
    v = args[2] if len(args) > 2 else kwargs["value"]
    batch = math.prod(q.shape[:-2])
    return batch * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])  # scores + weighted sum


COUNTERS: dict[Any, Any] = {
    F.conv1d: lambda a, k, o: _conv(a, k, o, False),
    F.conv2d: lambda a, k, o: _conv(a, k, o, False),
    F.conv3d: lambda a, k, o: _conv(a, k, o, False),
    F.conv_transpose1d: lambda a, k, o: _conv(a, k, o, True),
    F.conv_transpose2d: lambda a, k, o: _conv(a, k, o, True),
    F.conv_transpose3d: lambda a, k, o: _conv(a, k, o, True),
    F.linear: _linear,
    torch.matmul: _matmul,
    torch.Tensor.matmul: _matmul,
    torch.Tensor.__matmul__: _matmul,
    torch.bmm: _matmul,
    torch.Tensor.bmm: _matmul,
    torch.mm: _matmul,
    torch.Tensor.mm: _matmul,
    torch.baddbmm: _baddbmm,
    torch.Tensor.baddbmm: _baddbmm,
    torch.addmm: _baddbmm,
    torch.einsum: _einsum,
    F.scaled_dot_product_attention: _sdpa,
}


def mha_macs(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor) -> int:
    """Projections (q, k, v, out) plus scores and weighted sum of one ``nn.MultiheadAttention`` call."""
    e = module.embed_dim
    tokens_q = query.numel() // e
    tokens_k = key.numel() // key.shape[-1]
    seq_k = key.shape[1] if module.batch_first and key.dim() == 3 else key.shape[0]
    kdim, vdim = module.kdim, module.vdim
    projections = tokens_q * e * e + tokens_k * e * (kdim + vdim) + tokens_q * e * e
    return projections + 2 * tokens_q * seq_k * e


def count_cost(model: nn.Module, example_input: torch.Tensor) -> Cost:
    """Per-layer MACs and totals (MACs, parameters) of one eval-mode, no-grad forward on ``example_input``."""
    from edgeprune.graph.record import Recorder

    was = model.training
    model.eval()
    try:
        with torch.no_grad(), Recorder(model) as recorder:
            model(example_input)
    finally:
        model.train(was)
    return recorder.cost()


def layer_macs(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """Layer path -> MACs of one forward pass (layers without MACs are absent); see :func:`count_cost`."""
    return count_cost(model, example_input).layers


def subtree_sum(values: dict[str, int], path: str) -> int:
    """Sum of ``values`` over ``path`` and every layer below it."""
    if not path:
        return sum(values.values())
    prefix = path + "."
    return sum(v for k, v in values.items() if k == path or k.startswith(prefix))
