"""``imagefolder:DIR``: class-per-subfolder images read the way torchvision's ``ImageFolder`` reads them.

``DIR/train/<class>/*`` and ``DIR/val/<class>/*`` are used as given (the select slice is carved from train);
a plain ``DIR/<class>/*`` is split with the seeded split. Images are decoded on the fly (nothing has to fit in
memory) and transformed by the stated preprocessing; without one they become [0, 1] tensors at their stored size.

Every image is converted to RGB when it is opened, as ``torchvision.datasets.folder.pil_loader`` (ImageFolder's
default loader) does, so a model trained on ``ImageFolder`` sees here what it saw in training: a folder of
grayscale PNGs gives 3 equal channels. ``channels = 1`` (``--channels 1``) converts that RGB image to one luma
channel afterwards, which is ``transforms.Grayscale(1)`` in a torchvision pipeline (for a gray image: its own
values, exactly, since ITU-R 601-2 luma weights sum to one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import Data, Split
from edgeprune.data.split import SPLIT_SEED, carve_select, seeded_split
from edgeprune.errors import SpecError
from edgeprune.hashing import json_hash

RGB_CHANNELS = 3  # what ImageFolder's default loader gives for every image


def _open_image(path: str) -> Any:
    """The image at ``path`` as RGB (torchvision's ``pil_loader``); an unreadable file is named."""
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            image = Image.open(fh)
            return image.convert("RGB")
    except Exception as exc:  # PIL raises many types for unreadable files
        raise SpecError(f"image {path}: cannot be read ({type(exc).__name__}: {exc})") from None


def _folder(root: Path, transform: Any) -> Any:
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(root), transform=transform, loader=_open_image)
    except (FileNotFoundError, RuntimeError) as exc:
        raise SpecError(f"image folder {root}: {str(exc).splitlines()[0]}") from None


def _scan(folders: list[Any], pre: Preprocessing) -> int:
    """Read every image header: all readable, one size unless resized; returns the channel count the samples
    get (3, as ImageFolder's loader gives, unless the preprocessing asks for 1)."""
    from PIL import Image

    first_size, first_path = None, ""
    for folder in folders:
        for path, _ in folder.samples:
            try:
                with Image.open(path) as image:
                    size = image.size
            except Exception as exc:  # not an image, truncated header
                raise SpecError(f"image {path}: cannot be read ({type(exc).__name__}: {exc})") from None
            if pre.resize is None and pre.crop is None:
                if first_size is None:
                    first_size, first_path = size, path
                elif size != first_size:
                    raise SpecError(
                        f"image {path} is {size[0]}x{size[1]} but {first_path} is {first_size[0]}x{first_size[1]};"
                        " give a resize (--resize HxW) so every sample has one shape"
                    )
    return pre.channels or RGB_CHANNELS


def _fingerprint(folders: list[Any], pre: Preprocessing) -> str:
    files = []
    for folder in folders:
        for path, label in folder.samples:
            st = os.stat(path)
            files.append([os.path.relpath(path, folder.root), label, st.st_size, st.st_mtime_ns])
    return json_hash([files, pre.to_dict()])


def imagefolder(arg: str | None, pre: Preprocessing | None) -> Data:
    if not arg:
        raise SpecError("data spec 'imagefolder:DIR' needs a folder after 'imagefolder:'")
    root = Path(arg).expanduser()
    if not root.is_dir():
        raise SpecError(f"data spec 'imagefolder:{arg}': folder {root} does not exist")
    pre = pre or Preprocessing(source="none")
    split_dirs = (root / "train").is_dir() and (root / "val").is_dir()
    parts = [root / "train", root / "val"] if split_dirs else [root]
    probe = [_folder(p, None) for p in parts]
    if split_dirs and probe[0].classes != probe[1].classes:
        raise SpecError(f"image folder {root}: train/ has classes {probe[0].classes} but val/ has {probe[1].classes}")
    channels = _scan(probe, pre)
    transform = pre.image_transform(channels)
    folders = [_folder(p, transform) for p in parts]
    if split_dirs:
        train_all, val = folders
        train_idx, select_idx = carve_select(len(train_all))
        train, select = Subset(train_all, train_idx.tolist()), Subset(train_all, select_idx.tolist())
        how = "folders"
    else:
        train_idx, select_idx, val_idx = seeded_split(len(folders[0]))
        train, select, val = (Subset(folders[0], i.tolist()) for i in (train_idx, select_idx, val_idx))
        how = "seeded"
    if min(len(train), len(select), len(val)) == 0:
        raise SpecError(
            f"image folder {root}: too few images for train/select/val ({len(train)}/{len(select)}/{len(val)})"
        )
    sample, _ = train[0]
    if not isinstance(sample, torch.Tensor):
        raise SpecError(f"image folder {root}: the transform produced {type(sample).__name__}, not a tensor")
    used = pre if pre.channels else Preprocessing(**{**pre.__dict__, "channels": channels})
    return Data(
        name=f"imagefolder:{root}",
        train=train,
        select=select,
        val=val,
        input_shape=tuple(sample.shape),
        num_classes=len(folders[0].classes),
        preprocessing=used,
        split=Split(len(train), len(select), len(val), SPLIT_SEED, how),
        fingerprint=_fingerprint(folders, used),
    )
