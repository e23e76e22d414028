"""Fine-tune options: ``TrainConfig`` is :class:`edgeprune.config.FinetuneConfig` (scheduler, steps, patience,
checkpoints live there), kept under this name for the loop and its callers."""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeprune.config import FinetuneConfig

TrainConfig = FinetuneConfig


def resolve(cfg: FinetuneConfig) -> TrainConfig:
    """The config itself (kept for callers written when the loop had its own config class)."""
    return cfg


def with_overrides(cfg: FinetuneConfig, **changes: Any) -> TrainConfig:
    """``cfg`` with the non-None ``changes`` applied (used by the CLI flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})
