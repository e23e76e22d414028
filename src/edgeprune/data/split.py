"""The seeded three-way split: validation and select slices carved from one pool (fractions of the whole)."""

from __future__ import annotations

import numpy as np

VAL_FRACTION = 0.2
SELECT_FRACTION = 0.1
SPLIT_SEED = 0


def seeded_split(n: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, select, val) index arrays: val 20%, select 10%, train the rest, in a seeded random order."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(VAL_FRACTION * n)
    n_select = round(SELECT_FRACTION * n)
    return order[n_val + n_select :], order[n_val : n_val + n_select], order[:n_val]


def carve_select(n_train: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, select) when validation is given apart: select takes the same share of the pool as above."""
    share = SELECT_FRACTION / (1.0 - VAL_FRACTION)
    order = np.random.default_rng(seed).permutation(n_train)
    n_select = max(1, round(share * n_train)) if n_train > 1 else 0
    return order[n_select:], order[:n_select]
