"""What a model expects its inputs to look like: edgeprune applies it only where it reads raw samples
(image files, arrays) and never invents it. It is written into report.json and every artifact's metadata so an
app feeds the deployed model exactly what it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeprune.errors import SpecError


@dataclass(frozen=True)
class Preprocessing:
    """Resize/crop (image files only), then ``(x * scale - mean) / std`` per channel; ``channels`` forces the
    channel count (1: grayscale, 3: RGB). Empty ``mean``/``std`` mean no normalization."""

    resize: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    scale: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    channels: int | None = None
    source: str = "none"  # who declared it: "builtin:<name>", "user", "factory:<spec>" or "none" (as stored)
    features: str = ""  # how raw input became the samples before scale/mean/std (audio: the MFCC front end)

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise SpecError(f"preprocessing: mean has {len(self.mean)} values but std has {len(self.std)}")
        if any(not np.isfinite(s) or s <= 0 for s in self.std):
            raise SpecError(f"preprocessing: every std must be a finite number > 0, got {list(self.std)}")
        if any(not np.isfinite(m) for m in self.mean) or not np.isfinite(self.scale) or self.scale <= 0:
            raise SpecError("preprocessing: mean and scale must be finite (scale > 0)")
        if self.channels not in (None, 1, 3):
            raise SpecError(f"preprocessing: channels must be 1 or 3, got {self.channels}")
        for name, size in (("resize", self.resize), ("crop", self.crop)):
            if size is not None and (len(size) != 2 or min(size) < 1):
                raise SpecError(f"preprocessing: {name} must be two sizes >= 1 (H, W), got {size}")

    @property
    def normalizes(self) -> bool:
        return bool(self.mean)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.features:
            del d["features"]  # absent rather than empty: fingerprints of data without a front end stay as they were
        return {
            **d,
            "resize": list(self.resize) if self.resize else None,
            "crop": list(self.crop) if self.crop else None,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        size = lambda v: tuple(int(i) for i in v) if v else None  # noqa: E731
        return cls(
            resize=size(data.get("resize")),
            crop=size(data.get("crop")),
            scale=float(data.get("scale", 1.0)),
            mean=tuple(float(m) for m in data.get("mean", ())),
            std=tuple(float(s) for s in data.get("std", ())),
            channels=data.get("channels"),
            source=str(data.get("source", "none")),
            features=str(data.get("features", "")),
        )

    def describe(self) -> str:
        """One line for people: ``resize 32x32, x * 0.00392, (x - [0.5]) / [0.5], 1 channel(s) (user)``."""
        parts = [self.features] if self.features else []
        if self.resize:
            parts.append(f"resize {self.resize[0]}x{self.resize[1]}")
        if self.crop:
            parts.append(f"center-crop {self.crop[0]}x{self.crop[1]}")
        if self.scale != 1.0:
            parts.append(f"x * {self.scale:.6g}")
        if self.mean:
            parts.append(f"(x - {[round(m, 6) for m in self.mean]}) / {[round(s, 6) for s in self.std]}")
        if self.channels:
            parts.append(f"{self.channels} channel(s)")
        return f"{', '.join(parts) or 'none (inputs used as stored)'} ({self.source})"

    def check_channels(self, channels: int, where: str) -> None:
        if self.mean and len(self.mean) not in (1, channels):
            raise SpecError(f"{where}: mean/std have {len(self.mean)} values but the samples have {channels} channels")

    def apply_array(self, x: np.ndarray, where: str) -> np.ndarray:
        """Scale and normalize float32 samples (N, C, H, W); resize/crop apply to image files only."""
        if self.resize or self.crop:
            raise SpecError(f"{where}: resize/crop apply to image folders; arrays are used at their stored size")
        x = x.astype(np.float32, copy=False)
        if self.channels and x.shape[1] != self.channels:
            if x.shape[1] == 1 and self.channels == 3:
                x = np.repeat(x, 3, axis=1)
            else:
                raise SpecError(f"{where}: samples have {x.shape[1]} channels; channels = {self.channels} cannot apply")
        if self.scale != 1.0:
            x = x * np.float32(self.scale)
        if self.mean:
            self.check_channels(x.shape[1], where)
            mean = np.asarray(self.mean, dtype=np.float32)[None, :, None, None]
            std = np.asarray(self.std, dtype=np.float32)[None, :, None, None]
            x = (x - mean) / std
        return x

    def image_transform(self, channels: int) -> Any:
        """torchvision transform for PIL images opened as RGB (ImageFolder's loader): resize, crop, grayscale when
        ``channels`` is 1, to [0, 1] tensor, scale, normalize.

        ``ToTensor`` already divides 8-bit pixels by 255; ``scale`` multiplies after that."""
        from torchvision import transforms as T

        steps: list[Any] = []
        if self.resize:
            steps.append(T.Resize(self.resize))
        if self.crop:
            steps.append(T.CenterCrop(self.crop))
        if channels == 1:
            steps.append(T.Grayscale(1))
        steps.append(T.ToTensor())
        if self.scale != 1.0:
            steps.append(T.Lambda(lambda t: t * self.scale))
        if self.mean:
            self.check_channels(channels, "preprocessing")
            steps.append(T.Normalize(self.mean, self.std))
        return T.Compose(steps)


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    """``"0.5,0.5,0.5"`` -> floats; errors name the flag."""
    try:
        values = tuple(float(t) for t in str(text).split(",") if t.strip())
    except ValueError:
        raise SpecError(f"{flag} '{text}': expected comma-separated numbers like 0.485,0.456,0.406") from None
    if not values:
        raise SpecError(f"{flag} '{text}': no numbers given")
    return values


def parse_size(text: str | int, flag: str) -> tuple[int, int]:
    """``"32"`` or ``"32x48"`` (H x W) -> (H, W)."""
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        raise SpecError(f"{flag} '{text}': expected a size like 32 or 32x48") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise SpecError(f"{flag} '{text}': expected a size like 32 or 32x48")
    return parts[0], parts[1]
