"""The manifest of an output folder: which files edgeprune wrote there (relative path, size, sha256).

Every folder edgeprune writes carries ``.edgeprune-manifest.json``, written atomically and last. It is what lets
``--force`` replace exactly edgeprune's own files: a file the manifest does not list, or one that changed since
edgeprune wrote it, belongs to someone else and is never written over or deleted.

While files are being moved into place the manifest also lists them as *pending* (a path, or a folder ending in
``/``): a run killed half way leaves a folder whose every file is still accounted for, so the next ``--force`` run
can replace it. A manifest is data: it is read as JSON, checked field by field, and never names anything outside
its folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgeprune.atomic import read_json, write_json
from edgeprune.errors import EdgepruneError

MANIFEST = ".edgeprune-manifest.json"
FORMAT = "edgeprune-manifest"
VERSION = 1
LOCK = ".edgeprune-lock"
STAGING_PREFIX = ".edgeprune-staging-"
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")  # atomic.atomic_path's temp files (mkstemp)


@dataclass(frozen=True)
class Entry:
    """One file edgeprune wrote: its path relative to the folder (``/``-separated), size and sha256."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Manifest:
    """What edgeprune wrote in one folder; ``command`` is the last command that wrote there."""

    command: str
    files: tuple[Entry, ...] = ()
    pending: tuple[str, ...] = ()  # being written: edgeprune's whatever they hold (a trailing "/": a whole folder)
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "command": self.command,
            "files": [e.to_dict() for e in self.files],
            "pending": list(self.pending),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EdgepruneError(f"{where}: not an edgeprune manifest (field 'format' is not {FORMAT!r})")
        if data.get("version") != VERSION:
            raise EdgepruneError(f"{where}: field 'version' is {data.get('version')!r}, expected {VERSION}")
        files, pending, command = data.get("files"), data.get("pending", []), data.get("command", "")
        if not isinstance(files, list) or not isinstance(pending, list) or not isinstance(command, str):
            raise EdgepruneError(f"{where}: fields 'files' and 'pending' must be lists, 'command' a string")
        entries = []
        for i, item in enumerate(files):
            ok = isinstance(item, dict) and set(item) == {"path", "size", "sha256"}
            ok = ok and isinstance(item["size"], int) and not isinstance(item["size"], bool) and item["size"] >= 0
            ok = ok and isinstance(item["sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", item["sha256"]) is not None
            if not ok:
                raise EdgepruneError(f"{where}: files[{i}] must be {{path, size >= 0, sha256 (64 hex digits)}}")
            entries.append(Entry(_relative(item["path"], f"{where}: files[{i}].path"), item["size"], item["sha256"]))
        waiting = tuple(_relative(p, f"{where}: pending[{i}]") for i, p in enumerate(pending))
        return cls(command, tuple(entries), waiting)

    def entry(self, path: str) -> Entry | None:
        return next((e for e in self.files if e.path == path), None)

    def is_pending(self, path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in self.pending)


def _relative(path: Any, where: str) -> str:
    """A manifest path must stay inside its folder: relative, ``/``-separated, no ``..``."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise EdgepruneError(f"{where}: must be a relative path, got {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or str(pure) in (".", ""):
        raise EdgepruneError(f"{where}: must be a path inside the folder, got {path!r}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_of(folder: Path, path: str) -> Entry:
    """The entry of ``folder/path`` as it is on disk now."""
    full = folder / path
    return Entry(path, full.stat().st_size, sha256_of(full))


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None when it has none."""
    path = Path(folder) / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() or not path.is_file():
        raise EdgepruneError(f"{path}: not a regular file; edgeprune writes its manifest itself")
    return Manifest.from_dict(read_json(path, "manifest"), str(path))


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_json(Path(folder) / MANIFEST, manifest.to_dict())


def is_own_working_file(name: str) -> bool:
    """edgeprune's own bookkeeping at the top of a folder: the manifest, the lock, staging folders."""
    return name in (MANIFEST, LOCK) or name.startswith(STAGING_PREFIX)


def folder_files(folder: Path) -> list[str]:
    """Every file (and symlink, fifo, ...) under ``folder``, relative and ``/``-separated, without following
    symlinks; edgeprune's bookkeeping at the top is left out. Folders themselves are not listed."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if not is_own_working_file(d)]
            files = [f for f in files if not is_own_working_file(f)]
        found += [(rel_root / f).as_posix() for f in files]
        found += [(rel_root / d).as_posix() for d in dirs if (Path(root) / d).is_symlink()]  # never followed
    return sorted(found)


@dataclass(frozen=True)
class Survey:
    """What a folder holds, as its manifest sees it."""

    ours: tuple[str, ...] = ()  # listed with the same size and hash, pending, or a temp file of one of those
    foreign: tuple[str, ...] = ()  # not listed: edgeprune did not write them
    changed: tuple[str, ...] = ()  # listed, but their content is not what edgeprune wrote
    manifest: Manifest | None = field(default=None, compare=False)

    @property
    def not_ours(self) -> tuple[str, ...]:
        return self.foreign + self.changed


def survey(folder: Path) -> Survey:
    """Sort every file under ``folder`` into edgeprune's, someone else's, and edgeprune's but changed since."""
    folder = Path(folder)
    if not folder.is_dir():
        return Survey()
    manifest = read_manifest(folder)
    ours, foreign, changed = [], [], []
    for rel in folder_files(folder):
        full = folder / rel
        entry = manifest.entry(rel) if manifest else None
        if full.is_symlink() or not full.is_file():
            foreign.append(rel)
        elif manifest is not None and (manifest.is_pending(rel) or _temp_of_ours(rel, manifest)):
            ours.append(rel)
        elif entry is None:
            foreign.append(rel)
        elif full.stat().st_size == entry.size and sha256_of(full) == entry.sha256:
            ours.append(rel)
        else:
            changed.append(rel)
    return Survey(tuple(ours), tuple(foreign), tuple(changed), manifest)


def _temp_of_ours(rel: str, manifest: Manifest) -> bool:
    """A temp file an interrupted atomic write of a listed or pending file left behind."""
    pure = PurePosixPath(rel)
    match = _TEMP.match(pure.name)
    if match is None:
        return False
    final = (pure.parent / match["name"]).as_posix()
    return manifest.entry(final) is not None or manifest.is_pending(final)
