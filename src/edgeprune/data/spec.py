"""Data specs: built-in names, ``npz:FILE``, ``imagefolder:DIR`` (or a folder / .npz path), or a user factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeprune.data.arrays import digits, mnist5k, npz, synthetic
from edgeprune.data.detection import detect_digits
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
    "detect-digits": detect_digits,
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


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def portable_spec(spec: str) -> str:
    """``spec`` with its file or folder made absolute (``npz:d.npz`` -> ``npz:/home/u/d.npz``), so a plan recording
    it is replayed on the same data from any working directory; other specs unchanged."""
    kind, _, arg = spec.partition(":")
    if kind in ("npz", "imagefolder") and arg:
        return f"{kind}:{_absolute(arg)}"
    if kind not in LOADERS and (Path(spec).expanduser().is_dir() or Path(spec).suffix == ".npz"):
        return _absolute(spec)
    return spec


def is_user_code(spec: str) -> bool:
    """True for a data factory (``module:factory``, ``file.py:factory``): code, which a file may name but never
    makes edgeprune run."""
    kind, sep, _ = spec.partition(":")
    if kind in LOADERS:
        return False
    path = Path(spec).expanduser()
    return bool(sep) and not path.is_dir() and path.suffix != ".npz"


def data_record(spec: str, preprocessing: Preprocessing | None) -> dict:
    """What a plan records about its data: the spec (absolute paths) and the user's preprocessing, if any."""
    user = preprocessing is not None and preprocessing.source == "user"
    return {"spec": portable_spec(spec), "preprocessing": preprocessing.to_dict() if user else None}
