"""Tiny model factories for the planning tests (spec ``planning_models:<name>``)."""

from __future__ import annotations

from torch import nn

from edgeprune.models.edgenet import EdgeNet


def edgenet4(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """EdgeNet at width 4: every pruning kind, cheap on 8x8 digits."""
    return EdgeNet(num_classes=num_classes, in_channels=in_channels, width=4)


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Narrow(nn.Module):
    """Two conv layers ``a`` and ``b`` wide, pooled into a classifier: the model of issue 24 item 6, where
    round_to 16 leaves ``a`` two widths (16, 32 for a = 32) and the budget falls between the coarse steps."""

    def __init__(self, a: int, b: int, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(_conv_bn(in_channels, a), _conv_bn(a, b), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(b, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def narrow_32_64(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return Narrow(32, 64, num_classes, in_channels)


def narrow_24_48(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return Narrow(24, 48, num_classes, in_channels)


def narrow_16_32(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """16 wide: round_to 16 alone cannot prune it at all."""
    return Narrow(16, 32, num_classes, in_channels)
