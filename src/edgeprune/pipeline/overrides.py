"""Flag overrides of a target's fields (``deploy --macs 0.3 --epochs 4 --data imagefolder:DIR ...``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeprune.config import BUDGETS, Target, with_changes
from edgeprune.errors import ConfigError

# override name -> (section, field)
FIELDS: dict[str, tuple[str, str]] = {
    "model": ("model", "spec"),
    "checkpoint": ("model", "checkpoint"),
    "train_epochs": ("model", "train_epochs"),
    "estimate_bn_stats": ("model", "estimate_bn_stats"),
    "allow_chance_baseline": ("model", "allow_chance_baseline"),
    "data": ("data", "spec"),
    "resize": ("data", "resize"),
    "crop": ("data", "crop"),
    "scale": ("data", "scale"),
    "mean": ("data", "mean"),
    "std": ("data", "std"),
    "channels": ("data", "channels"),
    "num_classes": ("data", "num_classes"),
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
    "sram_kib": ("prune", "sram_kib"),
    "flash_kib": ("prune", "flash_kib"),
    "arena_kib": ("prune", "arena_kib"),
    "epochs": ("finetune", "epochs"),
    "lr": ("finetune", "lr"),
    "seed": ("finetune", "seed"),
    "threads": ("bench", "threads"),
    "runs": ("bench", "runs"),
}


def flag_name(override: str) -> str:
    """The command-line flag of an override (``latency_ms`` -> ``--latency-ms``)."""
    return "--" + override.replace("_", "-")


def budget_override(changes: dict[str, Any]) -> str | None:
    """The one budget the changes give (None: none); two are refused, naming both flags."""
    given = [name for name in BUDGETS if changes.get(name) is not None]
    if len(given) > 1:
        flags = " and ".join(f"{flag_name(n)} {changes[n]}" for n in given)
        raise ConfigError(f"{flags} are {len(given)} budgets; give one")
    return given[0] if given else None


def replaced_budget(target: Target, changes: dict[str, Any]) -> str | None:
    """A note when a budget flag replaces a different budget the target file sets (None otherwise)."""
    name = budget_override(changes)
    if name is None:
        return None
    old = [b for b in target.prune.budgets_given if b != name]
    if not old:
        return None
    was = f"prune.{old[0]} = {getattr(target.prune, old[0])}"
    return f"{flag_name(name)} {changes[name]} replaces the target's budget {was}"


def apply_overrides(target: Target, **changes: Any) -> Target:
    """``target`` with each non-None change applied to its section field, validated like the TOML. A budget flag
    replaces the target's budget (the other budget fields are cleared); two budget flags are refused."""
    from edgeprune.pipeline.targets import check_names

    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown override(s) {unknown}; known: {sorted(FIELDS)}")
    if budget_override(changes) is not None:
        target = dataclasses.replace(target, prune=dataclasses.replace(target.prune, **dict.fromkeys(BUDGETS)))
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
