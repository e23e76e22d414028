"""torchvision mobilenet_v2 at width multiplier 0.35 (Sandler et al. 2018), the width MCU vision models use at
96x96 input: ``edgeprune deploy --target ethos-u55 --model examples/embedded/mobilenet_v2_035.py:make
--data synthetic:3x96x96`` (random weights here: no downloads; cycles and memory do not need trained ones)."""

from __future__ import annotations

from torch import nn


def make(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """mobilenet_v2(width_mult=0.35) with ``num_classes`` outputs; the stem takes ``in_channels``."""
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(width_mult=0.35, num_classes=num_classes)
    if in_channels != 3:
        stem = model.features[0][0]
        model.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, 3, 2, 1, bias=False)
    return model
