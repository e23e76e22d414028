"""The one on-disk cache: ``$EDGEPRUNE_CACHE`` (default ``~/.cache/edgeprune``), one folder per kind of entry,
entries named by a hash of their content key (model, weights, data, settings), so a run from any working
directory finds what an earlier run stored. ``EDGEPRUNE_NO_CACHE=1`` (``--no-cache``) turns reads and writes off.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EDGEPRUNE_CACHE"
NO_CACHE_ENV = "EDGEPRUNE_NO_CACHE"


def cache_root() -> Path:
    """The cache folder (not created here)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgeprune").expanduser()


def cache_enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def cache_dir(kind: str) -> Path | None:
    """``<root>/<kind>`` (e.g. ``baselines``, ``sensitivity``), or None when caching is off."""
    return cache_root() / kind if cache_enabled() else None
