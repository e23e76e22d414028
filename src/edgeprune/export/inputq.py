"""The dataset's preprocessing folded into an int8 input's quantization: raw sample -> int8 input in one step.

The model was trained on ``x = (raw * scale - mean[c]) / std[c]`` (:class:`edgeprune.data.Preprocessing`, after any
resize/crop) and its int8 input holds ``q = round(x / s) + z`` (the input tensor's scale ``s`` and zero point ``z``).
Together ``q = clamp(round(raw * multiplier[c] + offset[c]), -128, 127)`` with ``multiplier[c] = scale / (std[c] * s)``
and ``offset[c] = z - mean[c] / (std[c] * s)``: what a microcontroller applies to camera pixels or audio features
before ``interpreter.input(0)``. Rounding the folded form may differ from rounding in two steps by one step of the
input quantization at exact ties.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class InputQuantization:
    """Per channel ``q = clamp(round(raw * multiplier[c] + offset[c]), qmin, qmax)`` (one entry: all channels)."""

    multiplier: list[float]
    offset: list[float]
    scale: float  # the input tensor's own quantization (of the preprocessed value)
    zero_point: int
    layout: str  # NCHW or NHWC: where the channel is
    dtype: str = "int8"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputQuantization:
        return cls(**data)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Quantize a batch of raw samples (N, C, H, W or N, H, W, C per ``layout``; other ranks: channel last)."""
        axis = 1 if self.layout == "NCHW" and raw.ndim == 4 else -1
        shape = [1] * raw.ndim
        shape[axis] = len(self.multiplier)
        mult = np.asarray(self.multiplier, dtype=np.float64).reshape(shape if len(self.multiplier) > 1 else [1])
        off = np.asarray(self.offset, dtype=np.float64).reshape(shape if len(self.offset) > 1 else [1])
        info = np.iinfo(np.dtype(self.dtype))
        return np.clip(np.round(raw.astype(np.float64) * mult + off), info.min, info.max).astype(self.dtype)

    def describe(self) -> str:
        mult = ", ".join(f"{m:.6g}" for m in self.multiplier)
        off = ", ".join(f"{o:.6g}" for o in self.offset)
        return f"{self.dtype} input = clamp(round(raw x [{mult}] + [{off}]), -128, 127) per channel ({self.layout})"


def fold_preprocessing(
    preprocessing: dict[str, Any] | None, io_input: dict[str, Any], layout: str
) -> InputQuantization | None:
    """The folded form for an integer input (None for a float input or no scale)."""
    if np.dtype(io_input.get("dtype", "float32")).kind != "i" or not io_input.get("scale"):
        return None
    pre = preprocessing or {}
    s, z = float(io_input["scale"]), int(io_input["zero_point"])
    scale = float(pre.get("scale", 1.0))
    mean = [float(m) for m in pre.get("mean") or [0.0]]
    std = [float(v) for v in pre.get("std") or [1.0]]
    multiplier = [scale / (sd * s) for sd in std]
    offset = [z - m / (sd * s) for m, sd in zip(mean, std, strict=True)]
    return InputQuantization(multiplier, offset, s, z, layout, str(np.dtype(io_input["dtype"])))
