"""Checkpoint loading (safetensors or torch ``state_dict`` files) with errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.atomic import write_with
from edgeprune.errors import EdgepruneError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (weights only, never arbitrary pickle)."""
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EdgepruneError(f"checkpoint {path}: cannot read as a torch state_dict ({exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise EdgepruneError(f"checkpoint {path}: expected a state_dict, found {type(obj).__name__}")
    return obj


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model``; shape or key mismatches are reported by parameter name."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"shape mismatch {wrong[:5]}")
        raise EdgepruneError(f"checkpoint {path} does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state)
    return model


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Save ``model``'s state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    write_with(path, lambda tmp: save_file(state, str(tmp)))
