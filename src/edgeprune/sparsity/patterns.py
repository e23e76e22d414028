"""Which connections a mask removes: unstructured magnitude, N:M (``2:4``) and blocks (``1x4``, ``4x1``).

Masks are chosen on a layer's weight seen as a matrix (output channels x reduction) in the order
TFLite stores it: a conv weight (O, I, kh, kw) becomes (O, kh*kw*I) from its OHWI layout, so "along the
inputs" means along the innermost, contiguous dimension of the exported file.

- ``unstructured``: the smallest |w| of the layer (Zhu & Gupta 2017).
- ``N:M``: at most N nonzeros in every M consecutive inputs of an output row (2:4 is what sparse tensor
  cores run; Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks"). Sparsity is fixed: 1 - N/M.
- ``RxC`` blocks: whole R (outputs) x C (inputs) tiles, ranked by their L2 norm. ``1x4`` is the block of
  TFLite's sparse fully-connected kernels, ``4x1`` (4 output channels) the one XNNPACK's sparse 1x1 conv
  kernels use (Elsen et al. 2020, "Fast Sparse ConvNets").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from edgeprune.errors import ConfigError

KINDS = ("unstructured", "nm", "block")


def matrix_view(weight: torch.Tensor) -> torch.Tensor:
    """(O, K) view of a Linear (O, I) or conv (O, I, *k) weight, K in TFLite's (*k, I) order."""
    if weight.ndim <= 2:
        return weight.reshape(weight.shape[0], -1)
    return weight.movedim(1, -1).reshape(weight.shape[0], -1)


def from_matrix(matrix: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`matrix_view` for a weight of ``shape``."""
    if len(shape) <= 2:
        return matrix.reshape(shape)
    moved = (shape[0], *shape[2:], shape[1])
    return matrix.reshape(moved).movedim(-1, 1)


def _drop_smallest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Boolean keep-mask shaped like ``scores`` with its ``count`` smallest entries False."""
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if count > 0:
        keep[torch.argsort(scores.reshape(-1), stable=True)[:count]] = False
    return keep.reshape(scores.shape)


@dataclass(frozen=True)
class Pattern:
    """A connection-pruning pattern; build one with :func:`parse_pattern`."""

    name: str
    kind: str
    n: int = 0
    m: int = 0
    rows: int = 1
    cols: int = 1

    @property
    def fixed_sparsity(self) -> float | None:
        """N:M patterns have one sparsity (1 - N/M); the others take any."""
        return 1.0 - self.n / self.m if self.kind == "nm" else None

    def misfit(self, layer: nn.Module) -> str | None:
        """Why this pattern cannot apply to ``layer`` (None if it can)."""
        weight = layer.weight
        out = weight.shape[0]
        inner = weight.shape[1] if weight.ndim > 1 else 1  # contiguous input channels (the 'I' of OHWI)
        if self.kind == "nm" and inner % self.m:
            return f"{inner} input channels per filter are not a multiple of {self.m}"
        if self.kind == "block" and (out % self.rows or inner % self.cols):
            return f"a {out}x{inner} (outputs x inputs) weight does not tile into {self.rows}x{self.cols} blocks"
        return None

    def mask(self, magnitude: torch.Tensor, sparsity: float) -> torch.Tensor:
        """Keep-mask (bool, shaped like the (O, K) ``magnitude``) removing ``sparsity`` of its entries."""
        if self.kind == "unstructured":
            return _drop_smallest(magnitude, round(sparsity * magnitude.numel()))
        if self.kind == "nm":
            return self._nm_mask(magnitude, sparsity)
        return self._block_mask(magnitude, sparsity)

    def _nm_mask(self, magnitude: torch.Tensor, sparsity: float) -> torch.Tensor:
        out, k = magnitude.shape
        groups = magnitude.reshape(out, k // self.m, self.m)
        rank = torch.argsort(torch.argsort(groups, dim=-1, stable=True), dim=-1)
        candidate = (rank < self.m - self.n).reshape(out, k)  # what N:M removes at full strength
        ranked = torch.where(candidate, magnitude, torch.full_like(magnitude, float("inf")))
        count = min(round(sparsity * magnitude.numel()), int(candidate.sum()))
        return _drop_smallest(ranked, count)

    def _block_mask(self, magnitude: torch.Tensor, sparsity: float) -> torch.Tensor:
        out, k = magnitude.shape
        r, c = self.rows, self.cols
        norms = magnitude.pow(2).reshape(out // r, r, k // c, c).sum((1, 3))
        keep = _drop_smallest(norms, round(sparsity * norms.numel()))
        return keep.repeat_interleave(r, 0).repeat_interleave(c, 1)


def parse_pattern(text: str) -> Pattern:
    """``unstructured``, ``N:M`` (e.g. ``2:4``) or ``RxC`` blocks (e.g. ``1x4``, ``4x1``)."""
    text = str(text).strip().lower()
    if text == "unstructured":
        return Pattern("unstructured", "unstructured")
    nm = re.fullmatch(r"(\d+):(\d+)", text)
    if nm:
        n, m = int(nm.group(1)), int(nm.group(2))
        if not 0 < n < m:
            raise ConfigError(f"prune.pattern '{text}': N:M needs 0 < N < M")
        return Pattern(text, "nm", n=n, m=m)
    block = re.fullmatch(r"(\d+)x(\d+)", text)
    if block:
        rows, cols = int(block.group(1)), int(block.group(2))
        if rows < 1 or cols < 1 or rows * cols < 2:
            raise ConfigError(f"prune.pattern '{text}': a block needs at least 2 weights")
        return Pattern(text, "block", rows=rows, cols=cols)
    raise ConfigError(f"prune.pattern '{text}' is not 'unstructured', 'N:M' (e.g. 2:4) or 'RxC' (e.g. 1x4, 4x1)")
