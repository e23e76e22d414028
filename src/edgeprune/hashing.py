"""Content hashes: of files, of a model's state dict, and of plain-data settings (one place for all)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_hash(model: Any, with_architecture: bool = False) -> str:
    """Hex SHA-256 over a module's state dict (names, shapes, dtypes, values); with ``with_architecture`` also
    over ``repr(model)``, so two architectures with equal weights differ."""
    import torch

    digest = hashlib.sha256(repr(model).encode() if with_architecture else b"")
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def json_hash(obj: Any, length: int = 16) -> str:
    """Short hex SHA-256 of a JSON-serializable object (keys sorted)."""
    payload = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
