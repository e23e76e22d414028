"""Output folders: edgeprune owns only what it wrote, every conflict is refused before any work, results appear
only when complete, and two runs never write one folder.

- **Checked up front** (:func:`prepare`, nothing created yet): ``--out`` is resolved through symlinks; it must not
  be a file, lie in a read-only place, be the working directory (or hold it), or be, hold or lie inside an input
  folder (data, checkpoint's folder, a pruned model, edgeprune's own ``targets/``). A folder holding files
  edgeprune did not write (see :mod:`edgeprune.manifest`), or files it wrote that changed since, is refused naming
  them, with or without ``force``: edgeprune never writes over or deletes them. A folder holding edgeprune's own
  earlier results needs ``force``.
- **Written whole** (:func:`writing`): the run holds ``.edgeprune-lock`` inside the folder (a second run fails at
  once, naming the holder's pid), builds its files in a staging folder inside it, and only when they are complete
  moves them into place and writes the manifest last. With ``force`` the old results stay until then; a failed or
  interrupted run leaves them as they were. ``replace``: the folder is the result (deploy, prune, compare), so
  edgeprune's old files that the new run does not write go; otherwise (export, plan, sensitivity, analyze, bench)
  only the named files are replaced and edgeprune's other files stay.
- **Worked in** (:func:`working_in`): a fine-tune run folder is written as the run goes (checkpoints, resume); the
  manifest lists what it is writing as pending first, so a killed run's files stay edgeprune's.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeprune.config import Target
from edgeprune.errors import EdgepruneError
from edgeprune.manifest import (
    LOCK,
    MANIFEST,
    STAGING_PREFIX,
    Manifest,
    Survey,
    entry_of,
    folder_files,
    survey,
    write_manifest,
)

SHOWN = 5  # file names an error lists before "and N more"
PROTECTED = (
    Path(__file__).resolve().parents[3] / "targets",  # the target files shipped with edgeprune
    Path(__file__).resolve().parents[1],  # edgeprune's own package
)


@dataclass(frozen=True)
class Input:
    """A path a command reads, named by the flag or field it came from (``--checkpoint``, ``data.spec``).
    ``tree``: everything below it is input (a data folder: a new subfolder would change the data)."""

    label: str
    path: Path
    tree: bool = False


@dataclass(frozen=True)
class Out:
    """An output folder that passed every up-front check."""

    given: Path  # as the user wrote it (messages)
    path: Path  # resolved through symlinks: where the files go
    command: str
    force: bool
    replace: bool  # the folder is the result: edgeprune's old files the new run does not write go
    writes: tuple[str, ...] = ()  # not ``replace``: the names this run writes
    flag: str = "--out"
    again: str = "pass --force to replace them (kept until the new ones are complete)"  # edgeprune's results there

    @property
    def named(self) -> str:
        """``--out DIR`` (``-> REAL`` when a symlink leads elsewhere)."""
        given = Path(os.path.abspath(self.given))
        return f"{self.flag} {self.given}" + ("" if given == self.path else f" (-> {self.path})")


DATA_PREFIXES = ("imagefolder:", "npz:")


def spec_inputs(label: str, spec: str | None, data: bool = False) -> list[Input]:
    """The paths a model/data/loss spec reads: ``file.py:factory``, ``imagefolder:DIR``, ``npz:FILE``, a folder
    or a file (built-ins and ``module:name`` read none). A data folder is input all the way down."""
    if not spec:
        return []
    text = spec
    for prefix in DATA_PREFIXES:
        text = text.removeprefix(prefix)
    where, sep, _ = text.rpartition(":")
    path = Path(where if sep and where.endswith(".py") else text).expanduser()
    if not path.exists():
        return []
    return [Input(label, path, tree=data and path.is_dir())]


def target_inputs(target: Target) -> list[Input]:
    """The paths a target's fields read: the model file, the checkpoint, the data, the loss and metric files."""
    found = spec_inputs("model.spec", target.model.spec)
    found += [Input("model.checkpoint", Path(target.model.checkpoint))] if target.model.checkpoint else []
    found += spec_inputs("data.spec", target.data.spec, data=True)
    return found + spec_inputs("task.loss", target.task.loss) + spec_inputs("task.metric", target.task.metric)


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_place(out: Out) -> None:
    """Refuse an out folder that is a file, cannot be created, or lies in a read-only place."""
    path, named = out.path, out.named
    if path.exists() and not path.is_dir():
        raise EdgepruneError(f"{named} is a file, not a folder")
    base = _existing_ancestor(path)
    if not base.is_dir():
        raise EdgepruneError(f"{named}: cannot create it, {base} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        where = "folder is not writable" if base == path else f"folder {base} is not writable"
        raise EdgepruneError(f"{named}: {where} (a read-only place); choose another --out")


def check_not_an_input(out: Out, inputs: Iterable[Input]) -> None:
    """Refuse the working directory, an input folder, a folder inside one, or a folder holding an input."""
    path, named = out.path, out.named
    cwd = Path.cwd().resolve()
    if _inside(cwd, path):
        what = "the working directory" if cwd == path else f"a folder holding the working directory {cwd}"
        raise EdgepruneError(f"{named} is {what}; give results a folder of their own, e.g. --out build/results")
    for folder in PROTECTED:
        if _inside(path, folder):
            raise EdgepruneError(f"{named} lies in edgeprune's own {folder}; choose another --out")
    for item in inputs:
        real = item.path.expanduser().resolve()
        if not real.exists():
            continue  # a missing input is reported by the step that reads it
        where = f"{item.label} {item.path}"
        if real.is_dir() and (path == real or (item.tree and _inside(path, real))):
            what = "is" if path == real else "lies inside"
            raise EdgepruneError(f"{named} {what} the input folder of {where}; choose another --out")
        if not real.is_dir() and path == real.parent:
            raise EdgepruneError(f"{named} is the folder of the input {where}; choose another --out")
        if _inside(real, path) and (out.replace or any(_inside(real, path / w) for w in out.writes)):
            raise EdgepruneError(f"{named} holds the input {where}, which the results would replace")


def _refuse_not_ours(out: Out, found: Survey) -> None:
    if not found.not_ours:
        return
    parts = []
    if found.foreign:
        why = "" if found.manifest else f" (no {MANIFEST} lists them)"
        parts.append(f"{len(found.foreign)} file(s) edgeprune did not write{why}: {_listing(found.foreign)}")
    if found.changed:
        parts.append(f"{len(found.changed)} file(s) changed since edgeprune wrote them: {_listing(found.changed)}")
    raise EdgepruneError(
        f"{out.named} holds {'; and '.join(parts)}; edgeprune never writes over or deletes them, with or without"
        " --force: move them away or choose another --out"
    )


def check_conflicts(out: Out) -> Survey:
    """Refuse files that are not edgeprune's, and edgeprune's earlier results without ``force``."""
    found = survey(out.path)
    _refuse_not_ours(out, found)
    if out.force or not found.ours:
        return found
    if out.replace:
        raise EdgepruneError(f"{out.named} already holds results of edgeprune ({_listing(found.ours)}); {out.again}")
    taken = [w for w in out.writes if any(_inside(Path(f), Path(w)) for f in found.ours)]
    if taken:
        raise EdgepruneError(f"{out.given / taken[0]} already exists; pass --force to replace it")
    return found


def prepare(
    out: str | Path,
    command: str,
    force: bool,
    *,
    replace: bool = True,
    writes: Iterable[str] = (),
    inputs: Iterable[Input] = (),
    flag: str = "--out",
    again: str | None = None,
) -> Out:
    """Every check of an output folder that can be made before any work; creates nothing. ``again``: what to do
    when it holds edgeprune's earlier results and ``force`` is not given."""
    given = Path(out)
    real = Path(os.path.realpath(given.expanduser()))
    target = Out(given, real, command, force, replace, tuple(writes), flag, *([again] if again else []))
    check_place(target)
    check_not_an_input(target, inputs)
    check_conflicts(target)
    return target


@contextmanager
def _created(path: Path) -> Iterator[None]:
    """Make ``path`` (and missing parents); remove the ones made here if they are still empty afterwards."""
    made = []
    probe = path
    while not probe.exists():
        made.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgepruneError(f"cannot create {path} ({exc.strerror})") from None
    try:
        yield
    finally:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break


@contextmanager
def locked(folder: Path, named: str | None = None) -> Iterator[None]:
    """Hold ``.edgeprune-lock`` inside ``folder`` (made if missing) for the block; a second holder fails at once."""
    folder = Path(folder)
    named = named or f"--out {folder}"
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK
    while True:
        fh = open(lock_path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise EdgepruneError(f"{named} is in use by another edgeprune run (pid {holder}); wait for it") from None
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()  # the previous holder removed the file between our open and our lock: take the new one
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        fh.close()


def _staging(folder: Path) -> Path:
    """A fresh staging folder inside ``folder``; stale ones of killed runs (the lock is ours) go first."""
    for stale in folder.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = folder / f"{STAGING_PREFIX}{os.getpid()}"
    staging.mkdir()
    return staging


def _remove_empty_parents(folder: Path, rel: str) -> None:
    parent = (folder / rel).parent
    while parent != folder and _inside(parent, folder):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def publish(out: Out, staging: Path) -> Manifest:
    """Move the finished files from ``staging`` into the folder: the manifest first lists them as pending, then
    (written last) lists exactly edgeprune's files. Files that are not edgeprune's are never touched."""
    folder = out.path
    found = survey(folder)
    _refuse_not_ours(out, found)  # a file put there during the run
    old = found.manifest or Manifest(out.command)
    new = folder_files(staging)
    entries = [entry_of(staging, rel) for rel in new]
    drop = sorted(set(found.ours) - set(new)) if out.replace else []
    kept = [] if out.replace else [rel for rel in found.ours if rel not in new]
    write_manifest(folder, Manifest(out.command, old.files, tuple(sorted({*old.pending, *new, *drop}))))
    for rel in new:
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    for rel in drop:
        (folder / rel).unlink(missing_ok=True)
        _remove_empty_parents(folder, rel)
    manifest = Manifest(out.command, tuple(sorted([*(entry_of(folder, r) for r in kept), *entries], key=_path)))
    write_manifest(folder, manifest)
    return manifest


def _path(entry: object) -> str:
    return str(getattr(entry, "path", ""))


@contextmanager
def writing(out: Out) -> Iterator[Path]:
    """Lock the folder, yield a staging folder inside it, and publish what was written there when the block ends
    without an error; on any error or interruption the staging folder goes and the folder stays as it was."""
    with _created(out.path), locked(out.path, out.named):
        check_conflicts(out)  # again, under the lock: another run may have written meanwhile
        staging = _staging(out.path)
        try:
            yield staging
            publish(out, staging)
        except (OSError, EdgepruneError) as exc:
            _name_final_paths(exc, staging, out.given)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _name_final_paths(exc: BaseException, staging: Path, final: Path) -> None:
    """Errors name the file the user will look for (``OUT/x``), not the staging folder it was being built in."""
    if isinstance(exc, OSError):
        for attr in ("filename", "filename2"):
            value = getattr(exc, attr, None)
            if isinstance(value, str | os.PathLike) and str(staging) in str(value):
                setattr(exc, attr, str(value).replace(str(staging), str(final)))
    elif exc.args and isinstance(exc.args[0], str) and str(staging) in exc.args[0]:
        exc.args = (exc.args[0].replace(str(staging), str(final)), *exc.args[1:])


@contextmanager
def working_in(out: Out, writes: Iterable[str], start_over: bool, working: Iterable[str] = ()) -> Iterator[Path]:
    """Lock the folder and work in it directly (a fine-tune run folder: checkpoints, resume). ``start_over``
    removes edgeprune's earlier files first; ``writes`` (paths, folders ending in ``/``) are what the run writes,
    pending until it ends; ``working`` folders stay pending for good: edgeprune's working state whatever they
    hold (checkpoints, whose every file the reader checks itself). At the end the manifest lists the rest."""
    folder, working = out.path, tuple(working)
    with _created(folder), locked(folder, out.named):
        found = check_conflicts(out)
        old = found.manifest or Manifest(out.command)
        ours = list(found.ours)
        if start_over:
            for rel in ours:
                (folder / rel).unlink(missing_ok=True)
                _remove_empty_parents(folder, rel)
            old, ours = Manifest(out.command), []
        journal = Manifest(out.command, old.files, tuple(sorted({*old.pending, *writes, *working})))
        write_manifest(folder, journal)
        try:
            yield folder
        except BaseException:
            if not folder_files(folder):
                (folder / MANIFEST).unlink(missing_ok=True)  # nothing written: leave no trace
            raise
        kept = Manifest(out.command, (), working)
        mine = [r for r in folder_files(folder) if (r in ours or journal.is_pending(r)) and not kept.is_pending(r)]
        write_manifest(folder, Manifest(out.command, tuple(entry_of(folder, rel) for rel in mine), working))
