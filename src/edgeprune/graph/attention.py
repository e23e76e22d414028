"""Split self-attention: ``nn.MultiheadAttention`` rebuilt with separate q/k/v/out ``nn.Linear`` layers.

``nn.MultiheadAttention`` ties its inner width (heads x head dim) to the embedding width, so whole heads cannot
go. :class:`SplitAttention` computes the same function with an explicit ``num_heads``/``head_dim`` and an inner
width of its own, which lets edgeprune remove whole heads (rows of q/k/v, columns of out) and shrink the
residual stream (inputs of q/k/v, outputs of out) independently. Only self-attention calls (query, key and value
are one tensor) without masks are swapped, as in torchvision's ViT ``EncoderBlock``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edgeprune.graph.hooks import forward_with_hooks


class SplitAttention(nn.Module):
    """Multi-head self-attention with separate projections; same math as ``nn.MultiheadAttention``."""

    # ``nn.TransformerEncoderLayer`` reads these before choosing its fused fast path (which assumes the inner
    # width equals the embedding width); as a layer without ``in_proj_*`` it takes the regular path
    in_proj_weight = None
    in_proj_bias = None
    _qkv_same_embed_dim = False

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        head_dim: int,
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.dropout, self.batch_first = dropout, batch_first
        inner = num_heads * head_dim
        self.q_proj = nn.Linear(embed_dim, inner, bias=bias)
        self.k_proj = nn.Linear(embed_dim, inner, bias=bias)
        self.v_proj = nn.Linear(embed_dim, inner, bias=bias)
        self.out_proj = nn.Linear(inner, embed_dim, bias=bias)

    @classmethod
    def from_mha(cls, mha: nn.MultiheadAttention) -> SplitAttention:
        """Copy the weights of a self-attention ``nn.MultiheadAttention`` (see :func:`why_not_splittable`)."""
        e, h = mha.embed_dim, mha.num_heads
        bias = mha.in_proj_bias is not None
        split = cls(e, h, e // h, bias=bias, dropout=mha.dropout, batch_first=mha.batch_first)
        split.to(device=mha.out_proj.weight.device, dtype=mha.out_proj.weight.dtype)
        with torch.no_grad():
            for i, proj in enumerate((split.q_proj, split.k_proj, split.v_proj)):
                proj.weight.copy_(mha.in_proj_weight[i * e : (i + 1) * e])
                if bias:
                    proj.bias.copy_(mha.in_proj_bias[i * e : (i + 1) * e])
            split.out_proj.weight.copy_(mha.out_proj.weight)
            if bias:
                split.out_proj.bias.copy_(mha.out_proj.bias)
        split.train(mha.training)
        return split

    def _heads(self, proj: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return proj(x).reshape(b, n, -1, self.head_dim).transpose(1, 2)  # (batch, heads, tokens, head_dim)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        need_weights: bool = True,
        average_attn_weights: bool = True,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention over ``query`` (``key``/``value`` must be the same tensor); returns ``(out, weights)``."""
        if (
            any(v is not None and v is not False for v in kwargs.values())
            or (key is not None and key is not query)
            or (value is not None and value is not query)
        ):
            raise ValueError("SplitAttention supports self-attention only (key is value is query, no masks)")
        x = query if self.batch_first else query.transpose(0, 1)
        q, k, v = (self._heads(p, x) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        attn = torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0.0:
            attn = F.dropout(attn, p=self.dropout)
        b, _, n, _ = q.shape
        out = self.out_proj(torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, attn.mean(1) if average_attn_weights else attn

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"


def why_not_splittable(mha: nn.MultiheadAttention) -> str:
    """Empty if ``mha`` can become a :class:`SplitAttention`; else the reason."""
    if not mha._qkv_same_embed_dim:
        return "key/value widths differ from the query width (kdim/vdim)"
    if mha.bias_k is not None or mha.add_zero_attn:
        return "add_bias_kv / add_zero_attn is set"
    return ""


def _self_attention_calls(model: nn.Module, example_input: torch.Tensor) -> dict[str, str]:
    """MultiheadAttention path -> reason it was not called as plain self-attention ('' if it was), from one run."""
    names = {m: n for n, m in model.named_modules()}
    seen: dict[str, str] = {}

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], _out: Any) -> None:
        q, k, v = (list(args) + [kwargs.get("query"), kwargs.get("key"), kwargs.get("value")][len(args) :])[:3]
        masks = [kwargs.get(m) for m in ("key_padding_mask", "attn_mask")] + list(args[3:4]) + list(args[5:6])
        reason = ""
        if not (q is k and k is v):
            reason = "called with different query/key/value (cross-attention)"
        elif any(m is not None for m in masks) or kwargs.get("is_causal"):
            reason = "called with an attention mask"
        path = names[module]
        seen[path] = seen.get(path) or reason  # a module called several times must qualify every time

    handles = [
        m.register_forward_hook(hook, with_kwargs=True) for m in model.modules() if isinstance(m, nn.MultiheadAttention)
    ]
    if not handles:
        return {}
    forward_with_hooks(model, example_input, handles)
    return seen


def splittable_attention(model: nn.Module, example_input: torch.Tensor) -> dict[str, str]:
    """Every ``nn.MultiheadAttention`` path -> '' if it can be split, else why not."""
    calls = _self_attention_calls(model, example_input)
    found = {}
    for path, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            found[path] = why_not_splittable(module) or calls.get(path, "never called in the forward pass")
    return found


def split_attention(model: nn.Module, paths: Sequence[str]) -> list[str]:
    """Replace each ``nn.MultiheadAttention`` at ``paths`` by an equal :class:`SplitAttention`, in place."""
    from edgeprune.errors import EdgepruneError

    for path in paths:
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise EdgepruneError(f"attention '{path}' is not a module of {type(model).__name__}") from None
        if isinstance(module, SplitAttention):
            continue
        if not isinstance(module, nn.MultiheadAttention):
            raise EdgepruneError(f"attention '{path}' is a {type(module).__name__}, not an nn.MultiheadAttention")
        reason = why_not_splittable(module)
        if reason:
            raise EdgepruneError(f"attention '{path}' cannot be split into heads: {reason}")
        model.set_submodule(path, SplitAttention.from_mha(module))
    return list(paths)


def split_all(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Split every self-attention ``nn.MultiheadAttention`` of ``model`` in place; returns their paths."""
    return split_attention(model, [p for p, why in splittable_attention(model, example_input).items() if not why])


def has_multihead_attention(model: nn.Module) -> bool:
    return any(isinstance(m, nn.MultiheadAttention) for m in model.modules())
