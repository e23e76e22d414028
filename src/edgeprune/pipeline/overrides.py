"""Flag overrides of a target's fields (``deploy --macs 0.3 --epochs 4 --data imagefolder:DIR ...``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeprune.config import Target, with_changes
from edgeprune.errors import ConfigError

# override name -> (section, field)
FIELDS: dict[str, tuple[str, str]] = {
    "model": ("model", "spec"),
    "checkpoint": ("model", "checkpoint"),
    "train_epochs": ("model", "train_epochs"),
    "data": ("data", "spec"),
    "resize": ("data", "resize"),
    "crop": ("data", "crop"),
    "scale": ("data", "scale"),
    "mean": ("data", "mean"),
    "std": ("data", "std"),
    "channels": ("data", "channels"),
    "loss": ("task", "loss"),
    "metric": ("task", "metric"),
    "higher_is_better": ("task", "higher_is_better"),
    "macs": ("prune", "macs"),
    "params": ("prune", "params"),
    "method": ("prune", "method"),
    "importance": ("prune", "importance"),
    "round_to": ("prune", "round_to"),
    "max_ratio": ("prune", "max_ratio"),
    "max_drop": ("prune", "max_drop"),
    "sparsity": ("prune", "sparsity"),
    "pattern": ("prune", "pattern"),
    "when": ("prune", "when"),
    "latency_ms": ("prune", "latency_ms"),
    "speedup": ("prune", "speedup"),
    "epochs": ("finetune", "epochs"),
    "lr": ("finetune", "lr"),
    "seed": ("finetune", "seed"),
    "threads": ("bench", "threads"),
    "runs": ("bench", "runs"),
}


def apply_overrides(target: Target, **changes: Any) -> Target:
    """``target`` with each non-None change applied to its section field, validated like the TOML."""
    from edgeprune.pipeline.targets import check_names

    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown override(s) {unknown}; known: {sorted(FIELDS)}")
    by_section: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if value is not None:
            section, field = FIELDS[name]
            by_section.setdefault(section, {})[field] = value
    if not by_section:
        return target
    try:
        sections = {s: with_changes(getattr(target, s), **fields) for s, fields in by_section.items()}
        updated = dataclasses.replace(target, **sections)
    except ConfigError as exc:
        raise ConfigError(f"target '{target.name}' with overrides: {exc}") from None
    return check_names(updated, f"target '{target.name}'")
