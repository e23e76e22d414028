"""Physically drop blocks: replace the module at a path with ``nn.Identity``."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from edgeprune.errors import EdgepruneError


def drop_blocks(model: nn.Module, paths: Iterable[str]) -> nn.Module:
    """Replace each module at ``paths`` with ``nn.Identity`` in place; unknown paths are named in the error."""
    for path in paths:
        if not path:
            raise EdgepruneError("block '' is the whole model; name a submodule to drop")
        try:
            model.get_submodule(path)
        except AttributeError:
            raise EdgepruneError(f"block '{path}' is not a module of {type(model).__name__}") from None
        model.set_submodule(path, nn.Identity())
    return model
