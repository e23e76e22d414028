"""The deploy chain and what it needs: target files, flag overrides, strategies, output handling.

Imported lazily, so that reading a target file (``pipeline.targets``) does not load torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DeployRequest", "deploy", "deploy_target"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgeprune.pipeline import chain as module

        return getattr(module, name)
    raise AttributeError(f"module 'edgeprune.pipeline' has no attribute {name!r}")
