"""Data on torch datasets: seeded splits, declared preprocessing, image folders, factories, bad samples named."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.data import ArrayDataset, Preprocessing, choosing_samples, load_data, take
from edgeprune.errors import SpecError


def test_mnist5k_split_is_fixed_and_disjoint():
    a, b = load_data("mnist5k"), load_data("mnist5k")
    assert (a.split.train, a.split.select, a.split.val) == (3500, 500, 1000)
    assert a.input_shape == (1, 28, 28) and a.num_classes == 10
    assert a.fingerprint == b.fingerprint
    xa, ya = take(a.val)
    xb, yb = take(b.val)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    xt, _ = take(a.train)
    train = {t.numpy().tobytes() for t in xt}
    assert not any(t.numpy().tobytes() in train for t in xa)
    # the declared preprocessing is the train split's own statistics: normalized train data
    assert abs(float(xt.mean())) < 1e-3 and abs(float(xt.std()) - 1) < 1e-2
    assert a.preprocessing.source == "builtin:mnist5k" and a.preprocessing.mean == pytest.approx((33.637,), abs=1e-3)


def test_builtin_refuses_user_preprocessing():
    with pytest.raises(SpecError, match="declares its own preprocessing"):
        load_data("digits", Preprocessing(mean=(0.5,), std=(0.5,), source="user"))


def test_choosing_samples_never_touch_validation(digits):
    x, _ = choosing_samples(digits, len(digits.select) + 10)
    xv, _ = take(digits.val)
    val = {t.numpy().tobytes() for t in xv}
    assert len(x) == len(digits.select) + 10 and not any(t.numpy().tobytes() in val for t in x)


def test_npz_is_used_as_stored_unless_told(tmp_path: Path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(50, 6, 6)).astype(np.float32)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=rng.integers(0, 3, 50))
    data = load_data(f"npz:{path}")
    assert (
        data.input_shape == (1, 6, 6)
        and data.num_classes == 3
        and data.split.train + data.split.select + data.split.val == 50
    )
    got, _ = take(data.train)
    assert got.min() >= 0 and got.max() <= 1  # no re-normalization: what the user stored is what the model sees
    assert data.preprocessing.source == "none" and not data.preprocessing.normalizes
    norm = load_data(f"npz:{path}", Preprocessing(mean=(0.5,), std=(0.25,), source="user"))
    raw, _ = take(data.val)
    normed, _ = take(norm.val)
    assert torch.allclose(normed, (raw - 0.5) / 0.25, atol=1e-6) and norm.fingerprint != data.fingerprint


def test_uint8_npz_gets_a_note(tmp_path: Path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((20, 4, 4), 200, dtype=np.uint8), y=np.arange(20) % 2)
    assert "raw 0-255" in load_data(f"npz:{path}").notes[0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((4, 2, 2)), "y": np.zeros(4, dtype=int)}, r"missing array\(s\) \['x'\]"),
        ({"x": np.zeros((4, 2, 2)), "y": np.zeros(3, dtype=int)}, "field 'y' has 3 entries for 4 samples"),
        ({"x": np.zeros((0, 2, 2)), "y": np.zeros(0, dtype=int)}, "holds no samples"),
        ({"x": np.zeros((4, 2, 2)), "y": -np.ones(4, dtype=int)}, "entry 0 of field 'y' is a negative label"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4, dtype=int)}, r"must be \(N,H,W\) or \(N,C,H,W\)"),
    ],
)
def test_npz_bad_content_names_field(tmp_path: Path, arrays: dict, message: str):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(SpecError, match=message):
        load_data(f"npz:{path}")


def test_npz_nan_names_the_sample(tmp_path: Path):
    x = np.zeros((10, 3, 3), dtype=np.float32)
    x[7, 1, 2] = np.nan
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.zeros(10, dtype=int))
    with pytest.raises(SpecError, match="sample 7 of field 'x' holds NaN"):
        load_data(str(path))


@pytest.mark.parametrize("content", [b"not a zip at all", b""])
def test_npz_garbage_is_one_line(tmp_path: Path, content: bytes):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=r"d.npz: not a readable .npz archive"):
        load_data(f"npz:{path}")


def test_npy_and_object_arrays_are_refused(tmp_path: Path):
    npy = tmp_path / "d.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros((3, 2, 2)))
    with pytest.raises(SpecError, match=r"single array \(.npy\)"):
        load_data(f"npz:{npy}")
    obj = tmp_path / "o.npz"
    np.savez(obj, x=np.array([object()] * 4, dtype=object), y=np.zeros(4, dtype=int))
    with pytest.raises(SpecError, match=r"o\.npz"):
        load_data(f"npz:{obj}")


def test_imagefolder_with_train_and_val(digits_png_folder: Path):
    data = load_data(f"imagefolder:{digits_png_folder}")
    assert data.split.how == "folders" and data.num_classes == 10 and data.input_shape == (3, 16, 16)
    assert data.split.val == len(list((digits_png_folder / "val").rglob("*.png")))
    x, y = take(data.val, 4)
    assert x.shape == (4, 3, 16, 16) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and y.dtype == torch.int64
    pre = Preprocessing(resize=(8, 8), mean=(0.5,), std=(0.5,), channels=1, source="user")
    small = load_data(str(digits_png_folder), pre)  # a plain folder path works too
    xs, _ = take(small.val, 2)
    assert small.input_shape == (1, 8, 8) and float(xs.min()) >= -1.0 and small.fingerprint != data.fingerprint


def test_imagefolder_reads_images_as_torchvision_imagefolder_does(digits_png_folder: Path):
    """Gray PNGs become 3 equal channels (ImageFolder's loader converts to RGB); --channels 1 gives the gray values
    back exactly, as transforms.Grayscale(1) after that loader does."""
    from torchvision import datasets, transforms

    ours = load_data(f"imagefolder:{digits_png_folder}")
    theirs = datasets.ImageFolder(str(digits_png_folder / "val"), transforms.ToTensor())
    x, y = take(ours.val, 8)
    reference = torch.stack([theirs[i][0] for i in range(8)])
    assert ours.preprocessing.channels == 3 and torch.equal(x, reference)
    assert y.tolist() == [theirs[i][1] for i in range(8)]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    gray = load_data(f"imagefolder:{digits_png_folder}", Preprocessing(channels=1, source="user"))
    g, _ = take(gray.val, 8)
    assert g.shape == (8, 1, 16, 16) and torch.equal(g[:, 0], x[:, 0])


def test_imagefolder_mixed_sizes_name_the_file(tmp_path: Path):
    from PIL import Image

    for cls, size in (("a", 8), ("b", 9)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (size, size)).save(tmp_path / cls / f"{i}.png")
    with pytest.raises(SpecError, match=r"b/0.png is 9x9 but .*a/0.png is 8x8; give a resize"):
        load_data(f"imagefolder:{tmp_path}")
    assert load_data(f"imagefolder:{tmp_path}", Preprocessing(resize=(8, 8), source="user")).input_shape == (3, 8, 8)


def test_imagefolder_unreadable_image_is_named(tmp_path: Path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (4, 4)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(SpecError, match=r"image .*broken.png: cannot be read"):
        load_data(f"imagefolder:{tmp_path}")


FACTORY = """
import torch
from torch.utils.data import TensorDataset

def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, 5, 5, generator=g)
    y = torch.arange(40) % 4
    return TensorDataset(x[:30], y[:30]), TensorDataset(x[30:], y[30:])

def one():
    return TensorDataset(torch.randn(50, 1, 4, 4), torch.arange(50) % 2)

def bad():
    return [1, 2, 3]

def broken():
    raise ValueError("my loader broke")
"""


def test_factory_datasets_from_a_file(tmp_path: Path):
    path = tmp_path / "mydata.py"
    path.write_text(FACTORY)
    data = load_data(f"{path}:pair")
    assert (data.split.train, data.split.select, data.split.val) == (26, 4, 10) and data.input_shape == (2, 5, 5)
    assert data.preprocessing.source.startswith("factory:")
    assert load_data(f"{path}:one").split.how == "seeded"
    with pytest.raises(SpecError, match="returned list; expected a torch Dataset"):
        load_data(f"{path}:bad")
    with pytest.raises(SpecError, match=r"mydata.py:\d+: ValueError: my loader broke"):
        load_data(f"{path}:broken")
    with pytest.raises(SpecError, match="has no attribute 'nope'"):
        load_data(f"{path}:nope")


def test_array_dataset_views_share_storage():
    pool = ArrayDataset(torch.arange(10.0)[:, None], torch.arange(10))
    view = pool.subset(torch.tensor([3, 5]))
    assert len(view) == 2 and view[1][1] == 5 and torch.equal(view.batch([0, 1])[1], torch.tensor([3, 5]))


def test_unknown_data_spec():
    with pytest.raises(SpecError, match="unknown data spec 'imagenet'"):
        load_data("imagenet")
    with pytest.raises(SpecError, match="does not exist"):
        load_data("npz:/no/such/file.npz")
