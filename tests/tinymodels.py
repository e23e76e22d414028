"""Tiny model factories for the fine-tune tests (importable by spec ``tinymodels:<name>`` in subprocesses)."""

from __future__ import annotations

from torch import nn

from edgeprune.models.edgenet import EdgeNet


def edgenet4(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """EdgeNet at width 4: BatchNorm, residuals and a depthwise block, cheap on 8x8 digits."""
    return EdgeNet(num_classes=num_classes, in_channels=in_channels, width=4)


def plain(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """A conv + MLP without BatchNorm: DDP on N processes computes exactly what one process computes."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 16, 32),
        nn.ReLU(),
        nn.Linear(32, num_classes),
    )
