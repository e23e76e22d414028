"""Write scikit-learn's 8x8 digits as gray PNGs in ``train/<class>/`` and ``val/<class>/`` folders (every 5th
image to val), upscaled to 16x16: a small real image folder to try ``--data imagefolder:DIR`` on.

    python examples/digits_png.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write(root: str | Path, size: int = 16) -> Path:
    root = Path(root)
    bunch = load_digits()
    order = np.random.default_rng(0).permutation(len(bunch.images))
    for rank, i in enumerate(order):
        folder = root / ("val" if rank % 5 == 0 else "train") / str(bunch.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (bunch.images[i] * (255.0 / 16.0)).astype(np.uint8)
        Image.fromarray(pixels, mode="L").resize((size, size), Image.NEAREST).save(folder / f"{i}.png")
    return root


if __name__ == "__main__":
    print(f"wrote {write(sys.argv[1])}")
