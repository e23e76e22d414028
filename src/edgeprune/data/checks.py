"""Sample checks before any work: finite values, label types and ranges, one sample shape; errors name the
file and the first bad index."""

from __future__ import annotations

import numpy as np

from edgeprune.errors import SpecError


def first_bad(mask: np.ndarray) -> int:
    """Index (along axis 0) of the first sample where ``mask`` is True anywhere."""
    flat = mask.reshape(len(mask), -1).any(axis=1)
    return int(np.argmax(flat))


def check_arrays(x: np.ndarray, y: np.ndarray, where: str) -> None:
    """Samples ``x`` (N, H, W) or (N, C, H, W) and targets ``y`` (N, ...): numeric, finite, matching."""
    if x.dtype == object or y.dtype == object:
        raise SpecError(f"{where}: object arrays are not accepted (store numbers, not Python objects)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise SpecError(f"{where}: field 'x' must hold numbers, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise SpecError(f"{where}: field 'x' must be (N,H,W) or (N,C,H,W), got shape {x.shape}")
    if len(x) == 0:
        raise SpecError(f"{where}: field 'x' holds no samples")
    if y.ndim == 0:
        raise SpecError(f"{where}: field 'y' is a single value; it needs one entry per sample")
    if len(y) != len(x):
        raise SpecError(f"{where}: field 'y' has {len(y)} entries for {len(x)} samples")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            raise SpecError(f"{where}: sample {first_bad(bad)} of field 'x' holds NaN or infinity")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y)
        if bad.any():
            raise SpecError(f"{where}: entry {first_bad(bad)} of field 'y' holds NaN or infinity")
    elif np.issubdtype(y.dtype, np.integer):
        if (y < 0).any():
            raise SpecError(f"{where}: entry {first_bad(y < 0)} of field 'y' is a negative label")
    else:
        raise SpecError(f"{where}: field 'y' must hold numbers (class labels or targets), got dtype {y.dtype}")


def is_class_labels(y: np.ndarray) -> bool:
    return np.issubdtype(y.dtype, np.integer)
