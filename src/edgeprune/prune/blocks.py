"""Physically drop blocks: replace the module at a path with ``nn.Identity``, or remove one residual branch
(``"path:branch"``, see :mod:`edgeprune.graph.branches`)."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.branches import PassThrough, branches_of, split_branch_path


def drop_blocks(model: nn.Module, paths: Iterable[str]) -> nn.Module:
    """Drop each block (or branch) at ``paths`` in place; unknown paths and branches are named in the error."""
    for path in paths:
        block, branch = split_branch_path(path)
        if not block:
            raise EdgepruneError(f"block '{path}' is the whole model; name a submodule to drop")
        try:
            module = model.get_submodule(block)
        except AttributeError:
            raise EdgepruneError(f"block '{block}' is not a module of {type(model).__name__}") from None
        if not branch:
            model.set_submodule(block, PassThrough())
            continue
        if isinstance(module, nn.Identity):
            continue  # the whole block is gone already
        known = branches_of(module)
        if branch not in known:
            raise EdgepruneError(
                f"block '{path}': {type(module).__name__} has no removable branch '{branch}' (known: {sorted(known)})"
            )
        model.set_submodule(block, known[branch].without(module))
    return model
