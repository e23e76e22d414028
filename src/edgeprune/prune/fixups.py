"""Attributes that mirror a pruned width and must follow it (torch-pruning updates only layers)."""

from __future__ import annotations

from torch import nn

from edgeprune.graph.surgery import sync_known_attributes


def sync_attributes(model: nn.Module) -> None:
    """Refresh width attributes read in ``forward`` (torchvision ViT's ``hidden_dim``, encoder blocks' heads)."""
    sync_known_attributes(model)
