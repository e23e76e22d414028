"""The task's metric for ``--metric examples/segmentation/metrics.py:miou``: mean intersection over union (percent)
over the classes present in the batch's targets or predictions; higher is better."""

from __future__ import annotations

import torch


def miou(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    pred = outputs.argmax(1)
    ious = []
    for c in torch.unique(torch.cat([pred.unique(), targets.unique()])):
        p, t = pred == c, targets == c
        union = (p | t).sum()
        if union:
            ious.append(float((p & t).sum()) / float(union))
    return 100.0 * sum(ious) / max(len(ious), 1)
