"""On-disk cache of scans (in the one edgeprune cache), keyed by weights, architecture, data, task and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from edgeprune.cache import cache_dir
from edgeprune.errors import EdgepruneError
from edgeprune.hashing import json_hash, state_dict_hash
from edgeprune.sensitivity.result import Sensitivity


def cache_key(model: nn.Module, data: dict[str, Any], settings: dict[str, Any]) -> str:
    """Key of one scan: weights + architecture digest, data fingerprint, task and settings."""
    return json_hash({"weights": state_dict_hash(model, with_architecture=True), "data": data, "settings": settings})


def load_cached(key: str) -> Sensitivity | None:
    """The cached scan for ``key`` or None; a corrupt entry is ignored (it will be rewritten)."""
    folder = cache_dir("sensitivity")
    path = folder / f"{key}.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        return Sensitivity.load(path)
    except EdgepruneError:
        return None


def store(result: Sensitivity) -> Path | None:
    folder = cache_dir("sensitivity")
    if folder is None:
        return None
    path = folder / f"{result.key}.json"
    result.save(path)
    return path
