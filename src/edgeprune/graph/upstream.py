"""torch-pruning, imported once and without timm.

torch-pruning's op counter imports timm (when installed) only to register counting hooks for timm's attention
layers; edgeprune counts MACs itself (:mod:`edgeprune.graph.cost`) and never calls that counter. Importing timm
cost 1-2 s of CPU in every command that builds a dependency graph (measured here: ``import torch_pruning`` 3.0 s of
CPU with timm, under load), so timm is hidden while torch-pruning loads unless it is already imported. A ``timm:``
model spec imports timm itself as usual.
"""

from __future__ import annotations

import sys
from types import ModuleType


def torch_pruning() -> ModuleType:
    """The ``torch_pruning`` module (imported on first use, without pulling in timm)."""
    if "torch_pruning" in sys.modules or "timm" in sys.modules:
        import torch_pruning

        return torch_pruning
    sys.modules["timm"] = None  # type: ignore[assignment]  # makes `import timm` raise ImportError meanwhile
    try:
        import torch_pruning
    finally:
        if sys.modules.get("timm", 0) is None:
            del sys.modules["timm"]
    return torch_pruning
