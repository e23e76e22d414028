"""Resolve a user's ``module:attr`` or ``path/to/file.py:attr`` to the object it names.

Only strings the user typed (command line, their own target file, API arguments) reach this module: what a
saved plan or report says never chooses an import. A module name is looked up from the working directory
first (no PYTHONPATH needed); a ``.py`` path is loaded as its own module. Failures inside the user's file
(syntax errors, exceptions at import) are reported with the user's file and line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from edgeprune.errors import SpecError


def split_spec(spec: str, what: str) -> tuple[str, str]:
    """``"a/b.py:make"`` -> ``("a/b.py", "make")``; the attribute is after the last colon."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr or not attr.isidentifier():
        raise SpecError(f"{what} '{spec}' must look like module:name or path/to/file.py:name")
    return where, attr


def user_frame(exc: BaseException, root: str | None = None) -> str:
    """``file:line`` of the innermost frame in user code (outside torch and edgeprune), for error messages."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    skip = (f"{os.sep}torch{os.sep}", f"{os.sep}edgeprune{os.sep}", f"{os.sep}importlib{os.sep}", "<frozen")
    for frame in reversed(frames):
        if root and frame.filename.startswith(root):
            return f"{frame.filename}:{frame.lineno}"
        if not any(s in frame.filename for s in skip):
            return f"{frame.filename}:{frame.lineno}"
    return frames[-1].filename + f":{frames[-1].lineno}" if frames else "?"


def _from_file(path: Path, spec: str, what: str) -> ModuleType:
    if not path.is_file():
        raise SpecError(f"{what} '{spec}': file {path} does not exist")
    name = f"edgeprune_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SpecError(f"{what} '{spec}': {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    parent = str(path.resolve().parent)
    added = parent not in sys.path
    if added:
        sys.path.insert(0, parent)  # so the file can import its neighbours
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code failed while importing
        del sys.modules[name]
        raise SpecError(
            f"{what} '{spec}': importing {path} failed at {user_frame(exc, str(path.resolve()))}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    finally:
        if added and parent in sys.path:
            sys.path.remove(parent)
    return module


def _from_module(module_name: str, spec: str, what: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SpecError(
                f"{what} '{spec}': no module '{module_name}' in the working directory {cwd} or on the Python path "
                "(give path/to/file.py:name instead)"
            ) from None
        raise SpecError(f"{what} '{spec}': importing '{module_name}' failed: {exc}") from None
    except Exception as exc:  # the user's module failed while importing
        raise SpecError(
            f"{what} '{spec}': importing '{module_name}' failed at {user_frame(exc)}: {type(exc).__name__}: {exc}"
        ) from None


def resolve_user_object(spec: str, what: str) -> Any:
    """The object ``spec`` names (``module:attr`` or ``file.py:attr``)."""
    where, attr = split_spec(spec, what)
    module = (
        _from_file(Path(where).expanduser(), spec, what) if where.endswith(".py") else _from_module(where, spec, what)
    )
    obj = getattr(module, attr, None)
    if obj is None:
        raise SpecError(f"{what} '{spec}': {where} has no attribute '{attr}'")
    return obj


def source_file(spec: str) -> Path | None:
    """The file a ``file.py:attr`` spec points at (for cache keys), else None."""
    where, _, _ = spec.rpartition(":")
    return Path(where).expanduser() if where.endswith(".py") else None


def call_user(fn: Any, spec: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call a user function; an exception inside it becomes one line naming the user's file and line."""
    try:
        return fn(*args, **kwargs)
    except SpecError:
        raise
    except Exception as exc:  # the user's code raised
        raise SpecError(f"{what} '{spec}' raised at {user_frame(exc)}: {type(exc).__name__}: {exc}") from None
