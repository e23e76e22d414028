"""The ``Data`` record every stage receives: three torch datasets (train / select / validation) plus what a
deployed model must know (input shape, classes, preprocessing) and a content fingerprint for caches.

Whatever *chooses* (sensitivity scans, planning, early stopping, int8 calibration) sees only ``select`` (and
``train``); reported numbers come from ``val``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from edgeprune.data.preprocessing import Preprocessing


class ArrayDataset(Dataset):
    """Samples held in memory as two tensors, seen through an index array (splits are views, not copies)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> None:
        self.x, self.y = x, y
        self.index = torch.arange(len(x)) if index is None else index.long()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = self.index[i]
        return self.x[j], self.y[j]

    def batch(self, positions: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples at ``positions`` of this view, stacked (fast path: one tensor index)."""
        j = self.index[torch.as_tensor(positions, dtype=torch.long)]
        return self.x[j], self.y[j]

    def subset(self, positions: torch.Tensor) -> ArrayDataset:
        return ArrayDataset(self.x, self.y, self.index[positions])


@dataclass(frozen=True)
class Split:
    """How the three parts were made."""

    train: int
    select: int
    val: int
    seed: int
    how: str  # "seeded" (one pool split at random), "folders" (train/ and val/ given), "factory"

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "select": self.select, "val": self.val, "seed": self.seed, "how": self.how}


@dataclass(frozen=True)
class Data:
    """Train / select / validation datasets yielding ``(input, target)`` pairs, and their description."""

    name: str
    train: Dataset
    select: Dataset
    val: Dataset
    input_shape: tuple[int, ...]  # one sample, channels first
    num_classes: int | None  # None when the targets are not class labels
    preprocessing: Preprocessing
    split: Split
    fingerprint: str  # content key: same data + same preprocessing -> same fingerprint
    notes: tuple[str, ...] = field(default=())
    task: str = "classification"  # the task the targets are for when none is named ("detection": padded boxes)

    def describe(self) -> dict[str, Any]:
        """Plain data for reports and metadata."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "preprocessing": self.preprocessing.to_dict(),
            "split": self.split.to_dict(),
            "fingerprint": self.fingerprint,
        }

    def example(self) -> torch.Tensor:
        """One input (batch of 1) from the select split, for tracing and export."""
        x, _ = take(self.select, 1)
        return x.clone()


def fetch(dataset: Dataset, positions: torch.Tensor | list[int]) -> tuple[Any, Any]:
    """The samples at ``positions`` collated into a batch ``(x, y)``."""
    if isinstance(dataset, ArrayDataset):
        return dataset.batch(positions)
    from torch.utils.data import default_collate

    items = [dataset[int(i)] for i in positions]
    return default_collate(items)


def take(dataset: Dataset, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` samples (all if None) of ``dataset`` as one batch."""
    count = len(dataset) if n is None else min(n, len(dataset))
    return fetch(dataset, list(range(count)))


def batches(dataset: Dataset, batch_size: int = 256, workers: int = 0) -> Any:
    """Sequential ``(x, y)`` batches over the whole dataset (no shuffling)."""
    if isinstance(dataset, ArrayDataset):
        for start in range(0, len(dataset), batch_size):
            yield dataset.batch(list(range(start, min(start + batch_size, len(dataset)))))
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
