"""The built-in default: a small CNN that exercises every pruning kind.

Stem conv + BN, two strided convs, a plain residual block, a depthwise-separable inverted residual
block (MobileNetV2 style, with skip), a Linear hidden layer and a classifier head. 10.2 MMACs and 144 k params on
a 1x28x28 input.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convs with an identity skip: ``relu(x + f(x))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(channels, channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class InvertedResidual(nn.Module):
    """Pointwise expand, depthwise 3x3, pointwise project, plus identity skip: ``x + f(x)``."""

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        hidden = channels * expand
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            conv_bn_relu(hidden, hidden, groups=hidden),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EdgeNet(nn.Module):
    """Default model for ``edgeprune:default``."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = conv_bn_relu(in_channels, w)
        self.down1 = conv_bn_relu(w, 2 * w, stride=2)
        self.block1 = ResidualBlock(2 * w)
        self.down2 = conv_bn_relu(2 * w, 4 * w, stride=2)
        self.block2 = ResidualBlock(4 * w)
        self.block3 = InvertedResidual(4 * w)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Linear(4 * w, 8 * w)
        self.hidden_act = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.block1(self.down1(x))
        x = self.block3(self.block2(self.down2(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.hidden_act(self.hidden(x)))
