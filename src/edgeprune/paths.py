"""Dotted module paths: whether a layer lies inside a block."""

from __future__ import annotations

from collections.abc import Iterable


def is_under(path: str, blocks: Iterable[str]) -> bool:
    """True if module ``path`` is one of ``blocks`` or lies below one of them."""
    return any(path == b or path.startswith(b + ".") for b in blocks)
