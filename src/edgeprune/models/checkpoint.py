"""Checkpoint loading (safetensors or torch ``state_dict`` files) with errors that name the culprit.

Torch files are read with ``weights_only=True``: a pickled module or arbitrary object is refused. Checkpoints
saved from DataParallel/DDP (``module.`` prefix) or Lightning (``state_dict`` with a ``model.`` prefix) load
with a note.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from edgeprune.atomic import write_with
from edgeprune.errors import EdgepruneError

SAVE_HINT = "save the weights with torch.save(model.state_dict(), path) or safetensors.torch.save_file"
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise EdgepruneError(f"checkpoint {path}: not a readable .safetensors file ({exc})") from None


def read_torch_file(path: Path, hint: str = SAVE_HINT) -> object:
    """``torch.load`` with ``weights_only=True``; every failure is one line naming ``path``, and torch's advice to
    reload with ``weights_only=False`` (which would run the file's code) is never repeated."""
    try:
        with warnings.catch_warnings():  # torch's unpickler warns about pickle protocols before it refuses
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types; the weights-only unpickler's message advises unsafe loading
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "pickle" in text.lower():
            raise EdgepruneError(
                f"checkpoint {path}: holds pickled Python objects (a whole model or custom classes), which edgeprune "
                f"never unpickles; {hint}"
            ) from None
        first = (text.splitlines() or [type(exc).__name__])[0].split(". ")[0][:200]
        raise EdgepruneError(f"checkpoint {path}: cannot be read (truncated or not a torch file: {first})") from None


def _strip_prefix(
    state: dict[str, torch.Tensor], path: Path, expected: set[str] | None = None
) -> dict[str, torch.Tensor]:
    if expected is not None and set(state) == expected:
        return state  # the model's own names (an Ultralytics model's keys all start with 'model.')
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            print(
                f"note: checkpoint {path}: dropped the '{prefix}' prefix of every key (a wrapped model)",
                file=sys.stderr,
            )
            return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path, expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (weights only, never arbitrary pickle). A wrapper's
    prefix is dropped unless the keys are already ``expected`` (the model's own)."""
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return _strip_prefix(_read_safetensors(path), path, expected)
    obj = read_torch_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # Lightning and many training scripts
    elif (
        isinstance(obj, dict)
        and isinstance(obj.get("model"), dict)
        and not any(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__ if not isinstance(obj, dict) else "a dict with non-tensor values"
        raise EdgepruneError(f"checkpoint {path}: expected a state_dict of tensors, found {kind}; {SAVE_HINT}")
    return _strip_prefix({str(k): v for k, v in obj.items()}, path, expected)


def adopt_statistics(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """BatchNorm layers built without running statistics take them from ``state`` when it carries them
    (edgeprune estimated them, --estimate-bn-stats)."""
    from edgeprune.models.batchnorm import supplied_statistics, track_statistics

    track_statistics(model, supplied_statistics(model, set(state)))


def mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """How ``state`` does not fit ``model`` (missing/unexpected keys, shapes by parameter name), or None."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if wrong:
        parts.append(f"shape mismatch {wrong[:5]}")
    return "; ".join(parts) or None


def load_state(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> nn.Module:
    """Load a state dict read from ``path`` into ``model``; mismatches and non-finite tensors name ``path``."""
    adopt_statistics(model, state)
    wrong = mismatch(model, state)
    if wrong:
        raise EdgepruneError(f"checkpoint {path} does not fit the model: {wrong}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise EdgepruneError(f"checkpoint {path}: tensor(s) {bad[:3]} hold NaN or infinity")
    model.load_state_dict(state)
    return model


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model``; shape or key mismatches are reported by parameter name."""
    return load_state(model, read_state_dict(path, set(model.state_dict())), path)


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Save ``model``'s state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    write_with(path, lambda tmp: save_file(state, str(tmp)))
