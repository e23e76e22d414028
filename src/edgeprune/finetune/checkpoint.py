"""Run folders: atomic resumable checkpoints, the overwrite guard, and RNG state capture.

A run folder holds ``checkpoints/s<step>-e<epoch>.pt`` (newest ``keep`` kept), ``result.json`` and the
final model. Each checkpoint is a dict of tensors and plain values read back with ``weights_only=True``
(no arbitrary pickle): model, best model, optimizer, scheduler, RNG states, epoch, step and the position
in the epoch's data order.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeprune.atomic import write_with
from edgeprune.errors import EdgepruneError
from edgeprune.models.checkpoint import read_torch_file

FORMAT = "edgeprune-finetune-checkpoint"
VERSION = 1
CHECKPOINT_DIR = "checkpoints"
FIELDS = ("config", "plan", "model", "optimizer", "scheduler", "rng", "epoch", "step", "position", "order", "history")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoint files, oldest first (temp files of an interrupted write are skipped)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("s*-e*.pt") if not p.name.startswith("."))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def guard_run_dir(run_dir: Path, inputs: list[str | Path], resume: bool) -> None:
    """Refuse a run folder that holds an input (it would be overwritten) or, without resume, old checkpoints."""
    run = Path(run_dir).resolve()
    for item in inputs:
        if _inside(Path(item).resolve(), run):
            raise EdgepruneError(
                f"run folder {run_dir} holds the input {item} and would overwrite it; choose another --out"
            )
    if not resume and list_checkpoints(run):
        raise EdgepruneError(
            f"run folder {run_dir} already has checkpoints; pass resume (--resume) to continue it, or pick another"
        )


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may touch (torch CPU/CUDA, numpy, Python) as plain data."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, payload: dict[str, Any], keep: int) -> Path:
    """Write ``payload`` atomically as the newest checkpoint; drop all but the newest ``keep``."""
    name = f"s{payload['step']:08d}-e{payload['epoch']:04d}.pt"
    path = checkpoint_dir(run_dir) / name
    write_with(path, lambda tmp: torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint_file(path: Path) -> dict[str, Any]:
    """Read one checkpoint (weights only); errors name the file."""
    data = read_torch_file(path, "fine-tune checkpoints hold only tensors and plain values")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgepruneError(f"checkpoint {path}: not an edgeprune fine-tune checkpoint")
    if data.get("version") != VERSION:
        raise EdgepruneError(f"checkpoint {path}: field 'version' is {data.get('version')!r}, expected {VERSION}")
    missing = [k for k in FIELDS if k not in data]
    if missing or not isinstance(data["config"], dict):
        raise EdgepruneError(f"checkpoint {path}: incomplete (missing or malformed field(s) {missing or ['config']})")
    return data


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def newest_loadable(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that reads back (a truncated or corrupt newer one is skipped with a note)."""
    import sys

    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint_file(path)
        except EdgepruneError as exc:
            print(f"note: skipping unreadable checkpoint ({exc})", file=sys.stderr)
    return None


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete half-written temp files a killed process left behind; return them."""
    folder = checkpoint_dir(run_dir)
    stale = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def config_mismatch(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Fields whose value differs between the checkpoint's config and the current one."""
    return sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
