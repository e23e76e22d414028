"""A small torchvision ViT (2 layers, 4 heads, 32-wide) shared by the head and branch tests."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn


@pytest.fixture()
def vit() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10
    ).eval()
    nn.init.normal_(model.heads.head.weight)  # torchvision starts the classifier at zero: outputs would all be 0
    return model
