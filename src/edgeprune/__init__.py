"""edgeprune: structured pruning that makes PyTorch models small and fast on edge devices, and proves it.

The public API is imported lazily so that ``import edgeprune`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "deploy": "edgeprune.pipeline",
    "deploy_target": "edgeprune.pipeline",
    "DeployRequest": "edgeprune.pipeline",
    "analyze": "edgeprune.graph",
    "make_plan": "edgeprune.prune",
    "apply_plan": "edgeprune.prune",
    "load_pruned": "edgeprune.prune",
    "save_pruned": "edgeprune.prune",
    "Plan": "edgeprune.prune",
    "export_model": "edgeprune.export",
    "load_artifact": "edgeprune.export",
    "fit": "edgeprune.finetune",
    "load_target": "edgeprune.config",
    "load_dataset": "edgeprune.data",
    "build_model": "edgeprune.models",
    "EdgepruneError": "edgeprune.errors",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeprune' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_API)
