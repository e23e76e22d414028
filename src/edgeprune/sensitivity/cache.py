"""On-disk cache of scans keyed by model weights, architecture, data split and scan settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.sensitivity.result import Sensitivity

CACHE_DIR = Path("build/cache/sensitivity")


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the architecture text and every state-dict tensor (name, shape, bytes)."""
    h = hashlib.sha256(repr(model).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_key(model: nn.Module, data: dict[str, Any], settings: dict[str, Any]) -> str:
    """Key of one scan: weights digest + data description + settings (all JSON-serializable)."""
    payload = json.dumps({"weights": weights_digest(model), "data": data, "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_cached(key: str, cache_dir: Path | None) -> Sensitivity | None:
    """The cached scan for ``key`` or None; a corrupt entry is ignored (it will be rewritten)."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return Sensitivity.load(path)
    except EdgepruneError:
        return None


def store(result: Sensitivity, cache_dir: Path | None) -> None:
    if cache_dir is not None:
        result.save(Path(cache_dir) / f"{result.key}.json")
