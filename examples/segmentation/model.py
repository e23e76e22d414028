"""torchvision's LR-ASPP with a MobileNetV3-Large backbone (random init: no downloads), returning the logits
tensor (N, classes, H, W) instead of torchvision's dict, so it exports and prunes like any model:
``--model examples/segmentation/model.py:make``."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.segmentation import lraspp_mobilenet_v3_large


class Segmenter(nn.Module):
    def __init__(self, num_classes: int = 11) -> None:
        super().__init__()
        self.net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


def make(num_classes: int = 11) -> nn.Module:
    return Segmenter(num_classes)
