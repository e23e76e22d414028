"""A small real segmentation task from scikit-learn's 8x8 digits: each digit, upscaled to 24x24, sits at a seeded
random place on a 32x32 canvas; the mask labels its pixels 1 + digit and the rest 0 (11 classes).

``make()`` is a data factory for ``--data examples/segmentation/digit_masks.py:make``: it returns a
(train, val) pair of torch datasets of (3x32x32 image in [0, 1], 32x32 int64 mask).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import TensorDataset

CANVAS, SCALE, INK = 32, 3, 4.0  # canvas size, digit upscaling (8 -> 24 px); a pixel is "digit" above INK/16
DIGIT = 8 * SCALE


class Masks(TensorDataset):
    """A TensorDataset that states how its images were made (recorded in edgeprune's reports)."""

    preprocessing: ClassVar[dict[str, float]] = {"scale": 1.0 / 16.0, "channels": 3}


def make(seed: int = 0) -> tuple[Masks, Masks]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    n = len(bunch.images)
    images = np.zeros((n, 3, CANVAS, CANVAS), dtype=np.float32)
    masks = np.zeros((n, CANVAS, CANVAS), dtype=np.int64)
    for i, (digit, label) in enumerate(zip(bunch.images, bunch.target, strict=True)):
        big = np.kron(digit, np.ones((SCALE, SCALE)))  # 8x8 -> 24x24
        top, left = rng.integers(0, CANVAS - DIGIT + 1, size=2)
        images[i, :, top : top + DIGIT, left : left + DIGIT] = big / 16.0
        masks[i, top : top + DIGIT, left : left + DIGIT] = np.where(big > INK, 1 + label, 0)
    order = rng.permutation(n)
    val, train = order[: n // 5], order[n // 5 :]
    part = lambda idx: Masks(torch.from_numpy(images[idx]), torch.from_numpy(masks[idx]))  # noqa: E731
    return part(train), part(val)
