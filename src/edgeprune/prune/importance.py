"""Per-index importance of a torch-pruning group: a callable, or a name from :mod:`edgeprune.importance`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from edgeprune.errors import EdgepruneError

Scorer = Callable[[Any], torch.Tensor]


def resolve_importance(importance: str | Scorer) -> Scorer:
    """A scorer from a registry name, or the callable itself (``group -> tensor of scores``).

    Data-driven criteria (taylor, activation, hessian) must be built with samples first:
    ``edgeprune.importance.get_importance(name, model, x, y)``.
    """
    if callable(importance):
        return importance
    from edgeprune.importance import get_importance

    criterion = get_importance(importance)
    if criterion.needs_data:
        raise EdgepruneError(
            f"importance '{importance}' needs samples: pass get_importance('{importance}', model, x, y) instead"
        )
    return criterion
