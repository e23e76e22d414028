"""Class labels of a :class:`Data`: where a label first leaves a class range, and a class count the user states.

Errors about classes name the sample (an npz entry, an image class folder) rather than the model, since the labels
are what the user can fix.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import Subset

from edgeprune.data.record import ArrayDataset, Data
from edgeprune.errors import SpecError


def _pool(dataset: object) -> object:
    return dataset.dataset if isinstance(dataset, Subset) else dataset


def first_label_from(data: Data, classes: int) -> str:
    """Where the first label >= ``classes`` is, for people: ``"entry 5 of field 'y'"`` (arrays: the index in the
    file), ``"class folders ['10']"`` (image folders); ``""`` when the dataset cannot say."""
    pool = _pool(data.train)
    if isinstance(pool, ArrayDataset) and not pool.y.is_floating_point() and pool.y.ndim == 1:
        found = torch.nonzero(pool.y >= classes)
        if len(found):
            index = int(found[0])
            return f"label {int(pool.y[index])} first at entry {index} of field 'y'"
        return ""
    names = getattr(pool, "classes", None)
    if isinstance(names, list) and len(names) > classes:
        return f"class folders {names[classes:][:5]}"
    return ""


def with_class_count(data: Data, classes: int | None) -> Data:
    """``data`` with the class count the user states (``--num-classes``): at least one more than its largest label
    (a model may have classes the data never shows); None keeps the count read from the labels."""
    if classes is None:
        return data
    if data.num_classes is None:
        raise SpecError(f"--num-classes {classes}: data '{data.name}' has no class labels (its targets are not labels)")
    if classes < data.num_classes:
        where = first_label_from(data, classes)
        raise SpecError(
            f"--num-classes {classes}: data '{data.name}' has labels up to {data.num_classes - 1}"
            f"{f' ({where})' if where else ''}; labels must lie in 0..{classes - 1}"
        )
    return dataclasses.replace(data, num_classes=classes)
