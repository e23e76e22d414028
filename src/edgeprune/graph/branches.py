"""Residual branches removable one at a time: ``x + attn(ln(x))`` and ``x + mlp(ln(x))`` of a ViT encoder block.

A block type registers its branches by name; removing one rebuilds the block without that branch (the kept
submodules keep their names, so weights and plan roots below the block stay valid). Paths are written
``"<block path>:<branch>"``, e.g. ``encoder.layers.encoder_layer_3:attention``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import nn


class AttentionResidual(nn.Module):
    """``x + dropout(attn(ln_1(x)))``: an encoder block whose MLP branch was removed."""

    def __init__(self, ln_1: nn.Module, self_attention: nn.Module, dropout: nn.Module) -> None:
        super().__init__()
        self.ln_1, self.self_attention, self.dropout = ln_1, self_attention, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        h, _ = self.self_attention(h, h, h, need_weights=False)
        return x + self.dropout(h)


class MlpResidual(nn.Module):
    """``x + mlp(ln_2(x))``: an encoder block whose attention branch was removed."""

    def __init__(self, ln_2: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.ln_2, self.mlp = ln_2, mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.ln_2(x))


@dataclass(frozen=True)
class Branch:
    """One removable branch: the children it consists of and how to rebuild the block without it."""

    children: tuple[str, ...]
    without: Callable[[nn.Module], nn.Module]


class PassThrough(nn.Identity):
    """``nn.Identity`` that also accepts the keyword arguments of the block it replaces (an
    ``nn.TransformerEncoderLayer`` is called with ``src_mask=...``): returns its first argument."""

    def forward(self, *args: Any, **_kwargs: Any) -> Any:
        return args[0]


def _identity(_block: nn.Module) -> nn.Module:
    return PassThrough()


@cache
def branch_table() -> dict[type[nn.Module], dict[str, Branch]]:
    """Block type -> branch name -> :class:`Branch`."""
    from torchvision.models.vision_transformer import EncoderBlock

    attention = ("ln_1", "self_attention", "dropout")
    mlp = ("ln_2", "mlp")
    return {
        EncoderBlock: {
            "attention": Branch(attention, lambda b: MlpResidual(b.ln_2, b.mlp)),
            "mlp": Branch(mlp, lambda b: AttentionResidual(b.ln_1, b.self_attention, b.dropout)),
        },
        AttentionResidual: {"attention": Branch(attention, _identity)},
        MlpResidual: {"mlp": Branch(mlp, _identity)},
    }


def split_branch_path(path: str) -> tuple[str, str]:
    """``"a.b:mlp"`` -> ``("a.b", "mlp")``; a plain block path gives ``(path, "")``."""
    block, _, branch = path.partition(":")
    return block, branch


def branches_of(module: nn.Module) -> dict[str, Branch]:
    """The removable branches of ``module`` (empty if its type registers none)."""
    return branch_table().get(type(module), {})
