"""Importance criteria keyed by name (``l2``, ``taylor``, ``entropy``, ``relative-l2``, ...), from config strings.

A criterion is an object that scores every index of a torch-pruning group (``__call__(group) -> Tensor``),
so it can be passed straight to :func:`edgeprune.prune.make_plan`. Data-driven criteria must first
see samples via ``prepare(model, x, y)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError


class Criterion:
    """Base class: scores one group; ``needs_data`` criteria accumulate statistics in :meth:`prepare`."""

    name: str = "criterion"
    needs_data: bool = False

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        """Collect whatever the scores need from ``model`` on samples ``x``/``y`` (gradients of ``loss``, the
        task's loss, cross-entropy when None); returns ``self``."""
        return self

    def __call__(self, group: Any) -> torch.Tensor | None:
        raise NotImplementedError

    @property
    def __name__(self) -> str:  # make_plan records ``importance.__name__`` in the plan
        return self.name


IMPORTANCE: dict[str, Callable[..., Criterion]] = {}


def register_importance(name: str) -> Callable[[Callable[..., Criterion]], Callable[..., Criterion]]:
    """Class decorator adding a criterion factory to the registry under ``name``."""

    def add(factory: Callable[..., Criterion]) -> Callable[..., Criterion]:
        if name in IMPORTANCE:
            raise ValueError(f"importance '{name}' registered twice")
        IMPORTANCE[name] = factory
        return factory

    return add


def known_importances() -> list[str]:
    """Registered criterion names."""
    _load_builtins()
    return sorted(IMPORTANCE)


def get_importance(
    name: str,
    model: nn.Module | None = None,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    loss: Any = None,
    **options: Any,
) -> Criterion:
    """Build the criterion ``name``; when it needs data and ``model``/``x``/``y`` are given, prepare it
    (gradient criteria differentiate ``loss``, the task's loss; cross-entropy when None)."""
    _load_builtins()
    factory = IMPORTANCE.get(name)
    if factory is None:
        raise EdgepruneError(f"importance '{name}' is unknown (known: {sorted(IMPORTANCE)})")
    try:
        criterion = factory(**options)
    except TypeError as exc:
        raise EdgepruneError(f"importance '{name}': bad option ({exc})") from None
    if not str(getattr(criterion, "name", "")).startswith(name):
        criterion.name = name  # the registry's name leads every record (options may add to it: relative-l2-lamp)
    if criterion.needs_data and model is not None:
        if x is None or y is None:
            raise EdgepruneError(f"importance '{name}' needs samples: pass x and y")
        criterion.prepare(model, x, y, loss=loss)
    return criterion


def _load_builtins() -> None:
    """Import the criterion modules so their ``register_importance`` decorators run."""
    from edgeprune.importance import activation, entropy, hessian, magnitude, random, relative, taylor  # noqa: F401
