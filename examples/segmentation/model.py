"""torchvision's LR-ASPP segmentation head on a dilated MobileNetV3 backbone (Howard et al., 2019; random init:
no downloads), returning the logits tensor (N, classes, H, W) instead of torchvision's dict, so it exports and
prunes like any model: ``--model examples/segmentation/model.py:make``. ``backbone="large"`` is torchvision's
``lraspp_mobilenet_v3_large``; the default ``"small"`` is the paper's MobileNetV3-Small variant (4x fewer MACs),
built with torchvision's own LR-ASPP builder."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small
from torchvision.models.segmentation import lraspp_mobilenet_v3_large
from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3


class Segmenter(nn.Module):
    def __init__(self, num_classes: int = 11, backbone: str = "small") -> None:
        super().__init__()
        if backbone == "large":
            self.net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
        else:
            self.net = _lraspp_mobilenetv3(mobilenet_v3_small(weights=None, dilated=True), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


def make(num_classes: int = 11, backbone: str = "small") -> nn.Module:
    return Segmenter(num_classes, backbone)
