"""The last traced dependency graph, kept so that pruning a model of the same structure again needs no new trace.

Planners bisect a ratio by planning and applying many times on copies of one model; each apply used to trace the
model again. A graph describes a structure (module tree, parameter shapes, input shape), not weights, so it serves
any model of that structure: :func:`edgeprune.graph.surgery.retarget` points its removals at the other model's
layers. One graph is kept (it holds the traced autograd graph, whose memory grows with the model).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

_LAST: dict[str, tuple[nn.Module, Any]] = {}


def structure_key(model: nn.Module, example_input: torch.Tensor, *extra: object) -> str:
    """Hash of the module tree, every parameter/buffer shape, the input shape and ``extra``."""
    h = hashlib.sha256()
    h.update(repr(model).encode())
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        h.update(f"{name}:{tuple(t.shape)};".encode())
    h.update(f"{tuple(example_input.shape)}|{extra}".encode())
    return h.hexdigest()


def remember(model: nn.Module, example_input: torch.Tensor, graph: Any) -> None:
    """Keep ``graph`` (traced on ``model``) as the one cached graph."""
    _LAST.clear()
    _LAST[structure_key(model, example_input)] = (model, graph)


def recall(model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, Any] | None:
    """(traced model, graph) for a model of ``model``'s structure, if cached and the traced model is unchanged."""
    key = structure_key(model, example_input)
    hit = _LAST.get(key)
    if hit is None:
        return None
    traced = hit[0]
    if traced is not model and structure_key(traced, example_input) != key:  # pruned since: stale
        _LAST.clear()
        return None
    return hit


def forget() -> None:
    """Drop the cached graph (frees the traced autograd graph)."""
    _LAST.clear()
