"""Shared fixtures: tiny models and data so the default suite stays fast on 2 cores."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def digits():
    from edgeprune.data import load_dataset

    return load_dataset("digits")


@pytest.fixture()
def edgenet():
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    return EdgeNet(num_classes=10, in_channels=1, width=8).eval()


@pytest.fixture(scope="module")
def tiny(digits):
    """A narrow EdgeNet (width 4) trained for 2 epochs on digits: real but cheap scores and curves."""
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    model = EdgeNet(num_classes=10, in_channels=1, width=4)
    fit(model, digits, FinetuneConfig(epochs=2, lr=1e-2, distill=False))
    return model.eval()


@pytest.fixture()
def default_checkpoint(tmp_path):
    """Seeded, untrained weights of the default model saved as ``m.safetensors`` (for CLI tests)."""
    from edgeprune.models import ModelSpec, build_model, save_weights

    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_weights(build_model(ModelSpec("edgeprune:default")), path)
    return path
