"""``module:factory`` / ``path/file.py:factory`` data: the factory returns a torch ``Dataset`` (split with the
seeded split), a ``(train, val)`` pair (select carved from train) or a ``(train, select, val)`` triple.
Samples must be ``(input tensor, target)`` pairs; the factory's own transforms are the preprocessing (a
``preprocessing`` dict attribute on the dataset, if present, is recorded in reports)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import Data, Split, take
from edgeprune.data.split import SPLIT_SEED, carve_select, seeded_split
from edgeprune.errors import SpecError
from edgeprune.hashing import json_hash, sha256_file
from edgeprune.userload import call_user, resolve_user_object, source_file

CHECKED_SAMPLES = 64


def _parts(obj: Any, spec: str) -> tuple[Dataset, Dataset, Dataset, str]:
    if isinstance(obj, Dataset) and not isinstance(obj, tuple):
        n = len(obj)
        tr, se, va = seeded_split(n)
        return Subset(obj, tr.tolist()), Subset(obj, se.tolist()), Subset(obj, va.tolist()), "seeded"
    if isinstance(obj, (tuple, list)) and len(obj) in (2, 3) and all(isinstance(d, Dataset) for d in obj):
        if len(obj) == 3:
            return obj[0], obj[1], obj[2], "factory"
        train_all, val = obj
        tr, se = carve_select(len(train_all))
        return Subset(train_all, tr.tolist()), Subset(train_all, se.tolist()), val, "factory"
    raise SpecError(
        f"data factory '{spec}' returned {type(obj).__name__}; expected a torch Dataset, (train, val) or "
        "(train, select, val)"
    )


def _check_samples(dataset: Dataset, spec: str, part: str) -> tuple[tuple[int, ...], Any]:
    """Look at the first samples: (tensor, target) pairs, one input shape, finite values."""
    shape = None
    for i in range(min(CHECKED_SAMPLES, len(dataset))):
        item = call_user(dataset.__getitem__, spec, f"data factory ({part} sample {i})", i)
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], torch.Tensor)):
            raise SpecError(f"data factory '{spec}': {part} sample {i} is not an (input tensor, target) pair")
        x = item[0]
        if shape is None:
            shape = tuple(x.shape)
        elif tuple(x.shape) != shape:
            raise SpecError(f"data factory '{spec}': {part} sample {i} has shape {tuple(x.shape)}, sample 0 {shape}")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise SpecError(f"data factory '{spec}': {part} sample {i} holds NaN or infinity")
    if shape is None:
        raise SpecError(f"data factory '{spec}': the {part} split is empty")
    return shape, dataset[0][1]


def _num_classes(datasets: list[Dataset], first_target: Any) -> int | None:
    for d in datasets:
        base = d.dataset if isinstance(d, Subset) else d
        classes = getattr(base, "classes", None)
        if classes is not None:
            return len(classes)
    target = torch.as_tensor(first_target)
    if target.ndim == 0 and not target.is_floating_point():
        _, y = take(datasets[0], min(len(datasets[0]), 1024))
        return int(torch.as_tensor(y).max()) + 1
    return None


def factory_data(spec: str, pre: Preprocessing | None) -> Data:
    if pre is not None and pre.source == "user":
        raise SpecError(
            f"data factory '{spec}' applies its own transforms; preprocessing flags apply to npz: and imagefolder:"
            " data (declare it as a `preprocessing` dict attribute on the dataset to have it recorded)"
        )
    fn = resolve_user_object(spec, "data factory")
    if not callable(fn):
        raise SpecError(f"data factory '{spec}' is a {type(fn).__name__}, not a function")
    train, select, val, how = _parts(call_user(fn, spec, "data factory"), spec)
    shape, first_target = _check_samples(train, spec, "train")
    for part, d in (("select", select), ("val", val)):
        if _check_samples(d, spec, part)[0] != shape:
            raise SpecError(f"data factory '{spec}': {part} samples differ in shape from train samples {shape}")
    declared = getattr(train.dataset if isinstance(train, Subset) else train, "preprocessing", None)
    used = Preprocessing.from_dict({**(declared or {}), "source": f"factory:{spec}"})
    src = source_file(spec)
    x0, _ = take(train, min(16, len(train)))
    probe = np.ascontiguousarray(x0.numpy()).tobytes()
    key = [spec, sha256_file(src) if src else "", len(train), len(select), len(val), json_hash(probe.hex())]
    return Data(
        name=spec,
        train=train,
        select=select,
        val=val,
        input_shape=shape,
        num_classes=_num_classes([train, val], first_target),
        preprocessing=used,
        split=Split(len(train), len(select), len(val), SPLIT_SEED, how),
        fingerprint=json_hash(key),
    )
