"""Microcontroller-class built-ins shaped like the MLPerf Tiny reference models (public architectures).

- ``edgeprune:resnet8``: image classification, 3x32x32 (CIFAR-10 sized), three residual stacks of 16/32/64.
- ``edgeprune:dscnn``: keyword spotting on 1x49x10 MFCC frames, a 10x4 strided conv and four
  depthwise-separable blocks of 64 channels (Zhang et al. 2017, "Hello Edge", the DS-CNN small model).
- ``edgeprune:mobilenet_v1_025``: visual wake words, 3x96x96, MobileNetV1 at width multiplier 0.25.

Written here from the papers' layer tables (MLPerf Tiny v1.0 reference submission); trained weights are not
shipped. Random init is fine for cycles and memory; accuracy is only claimed on data that is really here.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(
    cin: int,
    cout: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    groups: int = 1,
    padding: tuple[int, int] | None = None,
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU; odd kernels padded by ``kernel // 2`` (Keras' ``same``)."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (k[0] // 2, k[1] // 2) if padding is None else padding
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU."""
    return nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin), _conv_bn(cin, cout, 1))


class ResNetStack(nn.Module):
    """Two 3x3 convs with a skip (a strided 1x1 conv when the width or resolution changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, 3, stride),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.body(x))


class ResNet8(nn.Module):
    """MLPerf Tiny image classification: 16-wide stem, stacks of 16, 32 (stride 2) and 64 (stride 2)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = _conv_bn(in_channels, 16, 3)
        self.stack1 = ResNetStack(16, 16, 1)
        self.stack2 = ResNetStack(16, 32, 2)
        self.stack3 = ResNetStack(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))


class DSCNN(nn.Module):
    """MLPerf Tiny keyword spotting (DS-CNN small): 10x4 conv stride 2 to 64 channels, four separable blocks."""

    def __init__(self, num_classes: int = 12, in_channels: int = 1, width: int = 64, blocks: int = 4) -> None:
        super().__init__()
        # padding (5, 1) gives Keras' "same" output of a 49x10 input at stride 2: 25x5
        self.stem = _conv_bn(in_channels, width, (10, 4), 2, padding=(5, 1))
        self.blocks = nn.Sequential(*(_separable(width, width) for _ in range(blocks)))
        self.dropout = nn.Dropout(0.4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))


# MobileNetV1 at width 1.0: (output channels, stride) of the 13 depthwise-separable layers after the stem
MOBILENET_V1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


class MobileNetV1(nn.Module):
    """MobileNetV1 (Howard et al. 2017) at width multiplier ``alpha``; 0.25 is MLPerf Tiny's visual wake words."""

    def __init__(self, num_classes: int = 2, in_channels: int = 3, alpha: float = 0.25) -> None:
        super().__init__()
        width = lambda c: max(8, int(c * alpha))  # noqa: E731
        layers: list[nn.Module] = [_conv_bn(in_channels, width(32), 3, 2)]
        cin = width(32)
        for cout, stride in MOBILENET_V1_LAYERS:
            layers.append(_separable(cin, width(cout), stride))
            cin = width(cout)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def mobilenet_v1_025(num_classes: int = 2, in_channels: int = 3) -> MobileNetV1:
    return MobileNetV1(num_classes, in_channels, alpha=0.25)
