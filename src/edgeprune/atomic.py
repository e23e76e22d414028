"""Atomic file writes (temp file in the same folder, then rename) and JSON reads whose errors name the file."""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeprune.errors import EdgepruneError


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success rename it over ``target`` (fsynced)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)  # mkstemp creates 0600; give the file the permissions open() would
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except Exception as exc:
        full = _disk_full(exc, target)
        if full is None or full is exc:
            raise
        raise full from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


FULL_BELOW_BYTES = 1 << 20


def _disk_full(exc: Exception, target: Path) -> OSError | None:
    """An ENOSPC error naming ``target`` when ``exc`` came from a full disk, else None.

    Writers report a full disk in their own ways (safetensors: ``SafetensorError ... os error 28``; torch: a
    ``RuntimeError`` of its zip writer; protobuf: an ``OSError`` without a file name). A failed write on a folder
    with less than :data:`FULL_BELOW_BYTES` free (measured while the temp file still holds its space) is a full disk.
    """
    if isinstance(exc, EdgepruneError):
        return None  # a verdict about the content (parity, bad input), not about the disk
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return exc if exc.filename else OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    if isinstance(exc, OSError) and exc.errno is not None:
        return None  # permissions, missing folders...: already an OS error with its own reason
    try:
        stat = os.statvfs(target.parent)
    except OSError:
        return None
    if stat.f_bavail * stat.f_frsize < FULL_BELOW_BYTES:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    return None


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``target``."""
    write_bytes(target, text.encode("utf-8"))


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None: JSON (RFC 8259) has no NaN or Infinity, and
    Python's ``json`` would write them as bare tokens that strict readers (browsers, jq, other languages) refuse."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def json_text(obj: Any) -> str:
    """Strict, indented JSON of ``obj`` (non-finite numbers written as null, see :func:`finite`)."""
    return json.dumps(finite(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented, strict JSON (non-finite numbers as null)."""
    write_text(target, json_text(obj))


def _no_constant(token: str) -> Any:
    raise ValueError(f"'{token}' is not JSON (strict JSON has no NaN or Infinity)")


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Atomically produce ``target`` by calling ``writer(tmp_path)``."""
    with atomic_path(target) as tmp:
        writer(tmp)


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse the JSON file ``path``; a missing or malformed file raises an error naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(), parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise EdgepruneError(f"{what} {path} is not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise EdgepruneError(f"{what} {path} is not UTF-8 text (byte {exc.start}); is it a binary file?") from None
    except RecursionError:
        raise EdgepruneError(f"{what} {path} is nested too deeply to be a valid file") from None
    except ValueError as exc:  # NaN / Infinity tokens
        raise EdgepruneError(f"{what} {path} is not valid JSON ({exc})") from None
