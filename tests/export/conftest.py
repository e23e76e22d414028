"""A briefly trained default model on the digits dataset, shared by the exporter tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def trained(digits):
    """EdgeNet (width 8) trained for 3 epochs on digits: about 95% validation top-1 in a few seconds."""
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    model = EdgeNet(num_classes=10, in_channels=1, width=8)
    fit(model, digits, FinetuneConfig(epochs=3, lr=4e-3, distill=False, seed=0), description="train")
    return model.eval()
