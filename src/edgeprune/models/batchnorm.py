"""BatchNorm layers built without running statistics (``track_running_stats=False``).

Such a layer normalizes every batch by that batch's own statistics, also in eval mode, so a model's output for one
sample depends on the rest of its batch, and converters (litert-torch, torch.onnx) need fixed statistics. edgeprune
therefore refuses these models before any work, unless the user asks for statistics to be estimated on train
samples (:func:`track_statistics`, then a cumulative average over them: PyTorch's ``momentum=None``), or the
checkpoint itself carries ``running_mean``/``running_var`` for them (a model saved by edgeprune after that step).
"""

from __future__ import annotations

import torch
from torch import nn

STAT_KEYS = ("running_mean", "running_var", "num_batches_tracked")


def norms_without_statistics(model: nn.Module) -> list[str]:
    """Dotted names of the BatchNorm layers that keep no running statistics."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (not m.track_running_stats or m.running_mean is None)
    ]


def track_statistics(model: nn.Module, names: list[str]) -> nn.Module:
    """Give the BatchNorm layers ``names`` fresh running statistics (mean 0, var 1) and track them from now on."""
    for name in names:
        m = model.get_submodule(name)
        device = m.weight.device if m.weight is not None else torch.device("cpu")
        m.track_running_stats = True
        m.register_buffer("running_mean", torch.zeros(m.num_features, device=device))
        m.register_buffer("running_var", torch.ones(m.num_features, device=device))
        m.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
    return model


def supplied_statistics(model: nn.Module, keys: set[str]) -> list[str]:
    """The statistic-less BatchNorm layers whose running statistics the state-dict ``keys`` carry."""
    return [n for n in norms_without_statistics(model) if {f"{n}.{k}" if n else k for k in STAT_KEYS[:2]} <= keys]
