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
    "load_target": "edgeprune.pipeline.targets",
    "analyze": "edgeprune.graph",
    "make_plan": "edgeprune.prune",
    "apply_plan": "edgeprune.prune",
    "load_pruned": "edgeprune.prune",
    "save_pruned": "edgeprune.prune",
    "Plan": "edgeprune.prune",
    "sensitivity": "edgeprune.sensitivity",
    "ScanOptions": "edgeprune.sensitivity",
    "PlanOptions": "edgeprune.planning",
    "plan_to_budget": "edgeprune.planning",
    "uniform_to_budget": "edgeprune.planning",
    "smallest_within": "edgeprune.planning",
    "export_model": "edgeprune.export",
    "export_verified": "edgeprune.export",
    "load_artifact": "edgeprune.export",
    "fit": "edgeprune.finetune",
    "load_baseline": "edgeprune.baseline",
    "load_data": "edgeprune.data",
    "load_dataset": "edgeprune.data",
    "Preprocessing": "edgeprune.data",
    "Task": "edgeprune.task",
    "TaskSpec": "edgeprune.task",
    "resolve_task": "edgeprune.task",
    "evaluate": "edgeprune.task",
    "build_model": "edgeprune.models",
    "ModelSpec": "edgeprune.models",
    "EdgepruneError": "edgeprune.errors",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeprune' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_API)
