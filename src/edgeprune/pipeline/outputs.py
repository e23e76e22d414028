"""Deploy outputs: nothing of the user's is overwritten without ``force``, results appear all at once, and two
runs never write one folder.

Work is built in a staging folder beside ``--out`` and renamed into place at the end; with ``force`` the old
results stay until the new ones are complete. A lock file beside the folder (``.<name>.lock``, holding the pid)
makes a second run into the same folder fail at once, naming the holder. The out folder is checked (not a file,
writable) before any work starts.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeprune.errors import EdgepruneError


def check_folder(out: Path, flag: str = "--out") -> None:
    """Fail early when the output folder ``out`` is a file, not writable, or cannot be created."""
    if out.exists() and not out.is_dir():
        raise EdgepruneError(f"{flag} {out} is a file, not a folder")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise EdgepruneError(f"{flag} {out}: folder is not writable")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgepruneError(f"{flag} {out}: cannot create {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EdgepruneError(f"{flag} {out}: folder {parent} is not writable")


def check_out(out: Path, force: bool) -> None:
    """:func:`check_folder`; refuse a non-empty ``out`` without ``force``, and one that cannot be replaced."""
    check_folder(out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise EdgepruneError(f"--out {out} already holds results; pass --force to replace them (kept until done)")
    if out.is_dir() and os.path.ismount(out):
        raise EdgepruneError(f"--out {out} is a mount point, which cannot be replaced; give a folder inside it")


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``.<out name>.lock`` beside ``out`` for the whole run; a second holder fails at once."""
    lock_path = out.parent / f".{out.name}.lock"
    fh = open(lock_path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise EdgepruneError(
                f"--out {out} is in use by another edgeprune run (pid {holder}); wait for it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()
        lock_path.unlink(missing_ok=True)


def staging_dir(out: Path) -> Path:
    """A fresh folder beside ``out`` to build the results in."""
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, out: Path) -> None:
    """Move the finished results into ``out`` (the old folder, if any, is removed only after)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
