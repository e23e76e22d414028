"""Data specs: built-in names, ``npz:FILE``, ``imagefolder:DIR`` (or a folder / .npz path), or a user factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeprune.data.arrays import digits, mnist5k, npz, synthetic
from edgeprune.data.factory import factory_data
from edgeprune.data.imagefolder import imagefolder
from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import Data
from edgeprune.data.speech import kws_synth, speech_commands
from edgeprune.errors import SpecError

Loader = Callable[[str | None, Preprocessing | None], Data]
LOADERS: dict[str, Loader] = {
    "mnist5k": mnist5k,
    "digits": digits,
    "synthetic": synthetic,
    "npz": npz,
    "imagefolder": imagefolder,
    "kws-synth": kws_synth,
    "speechcommands": speech_commands,
}


def known_datasets() -> list[str]:
    """Spec kinds accepted before the optional ``:ARG``."""
    return sorted(LOADERS)


def load_data(spec: str, preprocessing: Preprocessing | None = None) -> Data:
    """Resolve ``spec`` (``mnist5k``, ``digits``, ``synthetic:3x32x32``, ``kws-synth``, ``speechcommands:D``,
    ``npz:F``, ``imagefolder:D``, a folder, an ``.npz`` path, ``module:factory`` or ``file.py:factory``) with the
    user's ``preprocessing`` (or None)."""
    if not isinstance(spec, str) or not spec:
        raise SpecError(f"data spec {spec!r} is empty; known kinds: {known_datasets()} or module:factory")
    kind, sep, arg = spec.partition(":")
    loader = LOADERS.get(kind)
    if loader is not None:
        return loader(arg or None, preprocessing)
    path = Path(spec).expanduser()
    if path.is_dir():
        return imagefolder(spec, preprocessing)
    if path.suffix == ".npz":
        return npz(spec, preprocessing)
    if sep:
        return factory_data(spec, preprocessing)
    raise SpecError(
        f"unknown data spec '{spec}': not one of {known_datasets()}, not a folder or .npz file, not module:factory"
    )


load_dataset = load_data  # the name the public API has used
