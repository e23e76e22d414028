"""A bring-your-own CNN as a new user writes it (issue 17): stem -> two DenseNet-style concatenation units ->
grouped conv -> squeeze-excitation -> residual add -> LayerNorm/GELU head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DenseUnit(nn.Module):
    """``cat([x, conv(relu(bn(x)))])``: the output holds the input channels plus ``growth`` new ones."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(F.relu(self.norm(x)))], dim=1)


class SqueezeExcite(nn.Module):
    """``x * sigmoid(fc2(relu(fc1(mean(x)))))``: a per-channel gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class ByoCNN(nn.Module):
    """The concatenation of stem and both dense units (48 channels) feeds a grouped conv with 4 groups of 12:
    each group reads channels of more than one producer, so the three producers must shrink together."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16, groups: int = 4) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        self.dense1 = DenseUnit(w, w)
        self.dense2 = DenseUnit(2 * w, w)
        self.grouped = nn.Sequential(
            nn.Conv2d(3 * w, 4 * w, 3, stride=2, padding=1, groups=groups, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(),
        )
        self.se = SqueezeExcite(4 * w)
        self.residual = nn.Sequential(nn.Conv2d(4 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm2d(4 * w))
        self.norm = nn.LayerNorm(4 * w)
        self.hidden = nn.Linear(4 * w, 8 * w)
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(self.stem(x)))
        x = self.se(self.grouped(x))
        x = F.relu(x + self.residual(x))
        x = self.norm(x.mean((2, 3)))
        return self.classifier(F.gelu(self.hidden(x)))


def make(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Factory for ``--model tests.models_patterns.byo_cnn:make``."""
    return ByoCNN(num_classes=num_classes, in_channels=in_channels)
