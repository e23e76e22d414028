"""Per-index importance of a torch-pruning group, resolved from a name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from edgeprune.errors import EdgepruneError

Scorer = Callable[[Any], torch.Tensor]


def _magnitude(p: int) -> Callable[[], Scorer]:
    def make() -> Scorer:
        import torch_pruning as tp

        return tp.importance.GroupMagnitudeImportance(p=p)

    return make


def _random() -> Scorer:
    import torch_pruning as tp

    return tp.importance.RandomImportance()


IMPORTANCE: dict[str, Callable[[], Scorer]] = {
    "magnitude": _magnitude(2),
    "l2": _magnitude(2),
    "l1": _magnitude(1),
    "random": _random,
}


def resolve_importance(importance: str | Scorer) -> Scorer:
    """A scorer from a registry name, or the callable itself (``group -> tensor of scores``)."""
    if callable(importance):
        return importance
    make = IMPORTANCE.get(importance)
    if make is None:
        raise EdgepruneError(f"importance '{importance}' is unknown (known: {sorted(IMPORTANCE)})")
    return make()
