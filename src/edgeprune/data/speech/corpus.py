"""A keyword-spotting corpus as arrays: features, labels, the speaker (voice) of every clip and its split; stored
in ``$EDGEPRUNE_CACHE/data`` as one ``.npz`` of plain arrays (never a pickle), and turned into a :class:`Data`.

Splits are by speaker: every clip of a speaker lies in one split, so validation measures speakers no choosing
step and no training step has heard (as Speech Commands' validation and testing lists do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeprune.atomic import write_with
from edgeprune.cache import cache_dir
from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import ArrayDataset, Data, Split
from edgeprune.errors import SpecError
from edgeprune.hashing import json_hash

SPLITS = ("train", "select", "val")
CACHE_KIND = "data"


@dataclass(frozen=True)
class Corpus:
    """``x`` (N, frames, coefficients) features; ``y`` (N,) class index; ``speaker`` (N,) index into
    ``speakers``; ``split`` (N,) index into :data:`SPLITS`; ``classes`` and ``speakers`` names."""

    x: np.ndarray
    y: np.ndarray
    speaker: np.ndarray
    split: np.ndarray
    classes: tuple[str, ...]
    speakers: tuple[str, ...]
    seconds: float  # time it took to build
    info: str  # one line: what made it (recipe, library versions)

    def part(self, name: str) -> np.ndarray:
        """Indices of the clips in split ``name``."""
        return np.flatnonzero(self.split == SPLITS.index(name))

    def speakers_of(self, name: str) -> set[str]:
        return {self.speakers[i] for i in np.unique(self.speaker[self.part(name)])}

    def counts(self) -> dict[str, int]:
        return {name: int((self.split == i).sum()) for i, name in enumerate(SPLITS)}


def cache_path(name: str, key: Any) -> Path | None:
    """``$EDGEPRUNE_CACHE/data/<name>-<hash of key>.npz`` (None with the cache off)."""
    folder = cache_dir(CACHE_KIND)
    return folder / f"{name}-{json_hash(key, length=20)}.npz" if folder is not None else None


def save(corpus: Corpus, path: Path) -> None:
    """Write the corpus atomically as plain arrays (names as fixed-width unicode, read without pickle)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh, x=corpus.x, y=corpus.y, speaker=corpus.speaker, split=corpus.split,
                classes=np.array(corpus.classes), speakers=np.array(corpus.speakers),
                seconds=np.array(corpus.seconds), info=np.array(corpus.info),
            )  # fmt: skip

    write_with(path, write)


def load(path: Path) -> Corpus | None:
    """The corpus stored at ``path``; None when it is missing or unreadable (it is then built again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return Corpus(
                x=f["x"], y=f["y"], speaker=f["speaker"], split=f["split"],
                classes=tuple(str(c) for c in f["classes"]), speakers=tuple(str(s) for s in f["speakers"]),
                seconds=float(f["seconds"]), info=str(f["info"]),
            )  # fmt: skip
    except Exception:  # a truncated or foreign file in the cache: rebuild rather than fail
        return None


def to_data(
    name: str, corpus: Corpus, features: str, fingerprint: Any, seed: int = 0, notes: tuple[str, ...] = ()
) -> Data:
    """The corpus as train / select / val datasets, normalized by its train split's mean and std (one scalar
    each, declared as the data's preprocessing with the feature front end)."""
    counts = corpus.counts()
    empty = [s for s, n in counts.items() if n == 0]
    if empty:
        raise SpecError(f"data '{name}': split(s) {empty} hold no clips ({counts}); add speakers")
    train = corpus.x[corpus.part("train")]
    pre = Preprocessing(
        mean=(float(train.mean()),), std=(float(train.std()) or 1.0,), source=f"builtin:{name}", features=features
    )
    x = pre.apply_array(corpus.x[:, None].astype(np.float32), f"data '{name}'")
    pool = ArrayDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(corpus.y.astype(np.int64)))
    parts = {s: pool.subset(torch.from_numpy(corpus.part(s))) for s in SPLITS}
    return Data(
        name=name,
        train=parts["train"],
        select=parts["select"],
        val=parts["val"],
        input_shape=tuple(x.shape[1:]),
        num_classes=len(corpus.classes),
        preprocessing=pre,
        split=Split(counts["train"], counts["select"], counts["val"], seed, "speakers"),
        fingerprint=json_hash([fingerprint, pre.to_dict()]),
        notes=notes,
    )
