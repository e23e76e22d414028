"""Attributes that mirror a pruned width and must follow it (torch-pruning updates only layers)."""

from __future__ import annotations

from torch import nn

from edgeprune.graph.attention import SplitAttention


def sync_attributes(model: nn.Module) -> None:
    """Refresh width attributes read in ``forward`` (torchvision ViT's ``hidden_dim``, encoder blocks)."""
    for module in model.modules():
        proj = getattr(module, "conv_proj", None)
        if isinstance(proj, nn.Conv2d) and hasattr(module, "hidden_dim"):
            module.hidden_dim = proj.out_channels
        if isinstance(module, SplitAttention):
            module.embed_dim = module.q_proj.in_features
        attn = getattr(module, "self_attention", None)
        if isinstance(attn, (nn.MultiheadAttention, SplitAttention)) and hasattr(module, "num_heads"):
            module.num_heads = attn.num_heads
