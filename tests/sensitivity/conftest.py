"""A tiny trained EdgeNet on digits (8x8) so scans take a second or two."""

from __future__ import annotations

import pytest
import torch

from edgeprune.config import FinetuneConfig
from edgeprune.finetune import fit
from edgeprune.models.edgenet import EdgeNet


@pytest.fixture(scope="module")
def tiny(digits):
    torch.manual_seed(0)
    model = EdgeNet(num_classes=10, in_channels=1, width=4)
    fit(model, digits, FinetuneConfig(epochs=2, lr=1e-2, distill=False))
    return model.eval()
