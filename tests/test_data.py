from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.data import load_dataset
from edgeprune.errors import SpecError


def test_mnist5k_split_is_fixed_and_disjoint():
    a, b = load_dataset("mnist5k"), load_dataset("mnist5k")
    assert a.split == {"train": 3500, "select": 500, "val": 1000}
    assert a.input_shape == (1, 28, 28) and a.num_classes == 10
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    # no sample of val appears in train or select
    train = {t.numpy().tobytes() for t in a.x_train}
    assert not any(t.numpy().tobytes() in train for t in a.x_val)
    assert abs(float(a.x_train.mean())) < 1e-3 and abs(float(a.x_train.std()) - 1) < 1e-2


def test_digits(digits):
    assert digits.input_shape == (1, 8, 8)
    assert sum(digits.split.values()) == 1797


def test_synthetic_shape():
    data = load_dataset("synthetic:3x16x16")
    assert data.input_shape == (3, 16, 16) and data.num_classes == 10


def test_npz_roundtrip(tmp_path: Path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(50, 6, 6)).astype(np.float32), y=rng.integers(0, 3, 50))
    data = load_dataset(f"npz:{path}")
    assert data.input_shape == (1, 6, 6) and data.num_classes == 3 and sum(data.split.values()) == 50


def test_npz_missing_field_named(tmp_path: Path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 2, 2)), y=np.zeros(4, dtype=int))
    with pytest.raises(SpecError, match=r"missing array\(s\) \['x'\]"):
        load_dataset(f"npz:{path}")


def test_npz_bad_labels(tmp_path: Path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 2, 2)), y=np.zeros(3, dtype=int))
    with pytest.raises(SpecError, match="field 'y' must be 1-D with 4 labels"):
        load_dataset(f"npz:{path}")


def test_unknown_data_spec():
    with pytest.raises(SpecError, match="'imagenet' is not one of"):
        load_dataset("imagenet")
    with pytest.raises(SpecError, match="does not exist"):
        load_dataset("npz:/no/such/file.npz")
