"""Widths a cut may leave: every pruned width is a multiple of ``round_to`` (shared over channel slices)."""

from __future__ import annotations

import math


def keep_step(channel_groups: int, round_to: int) -> int:
    """Indices per channel slice that one rounding step keeps or removes, so the group's total moves by
    ``round_to`` (or its least multiple that every slice can share)."""
    return round_to // math.gcd(round_to, channel_groups)


def keep_count(width: int, channel_groups: int, ratio: float, round_to: int) -> int:
    """Indices kept per channel slice when pruning ``ratio`` of ``width``: the nearest multiple of the step
    (:func:`keep_step`), never below one step and never above the slice width."""
    per_slice = width // channel_groups
    step = keep_step(channel_groups, round_to)
    if step >= per_slice:
        return per_slice  # narrower than one step: keep all
    target = per_slice * (1.0 - ratio)
    keep = math.floor(target / step + 0.5) * step
    return max(step, min(per_slice, keep))
