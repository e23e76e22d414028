"""Helpers for tests/badinput and tests/security: run the CLI (in a subprocess where the exit path matters, else
in-process), assert the one-line error contract, and prove that nothing was overwritten.

The contract every bad input must meet: the given exit code, no traceback, and exactly one error line on stderr
(``edgeprune CMD: error: ...``) naming the culprit. Other stderr lines may only be progress (``epoch ...``) or
notes (``note: ...``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ALLOWED_STDERR = ("epoch ", "note: ")


@dataclass(frozen=True)
class Outcome:
    """What one CLI run left behind: exit code and the two streams."""

    code: int
    out: str
    err: str


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout's package, the test cache, one thread, no bars."""
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{path}" if path else str(SRC))
    env.update(EDGEPRUNE_NO_PROGRESS="1", OMP_NUM_THREADS="1", **extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> Outcome:
    """``python -m edgeprune ARGS`` in a fresh process (exit codes, signals and aborts are real)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgeprune", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_main(capsys, *args: str) -> Outcome:
    """The same CLI entry point in this process (for cases whose exit path cannot take the process down)."""
    from edgeprune.commands.main import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def error_line(outcome: Outcome, code: int = 2, *culprits: str) -> str:
    """Assert the one-line error contract and that the line names every ``culprit``; return the line."""
    assert outcome.code == code, f"exit {outcome.code}, expected {code}; stderr:\n{outcome.err[-3000:]}"
    assert "Traceback" not in outcome.err, outcome.err[-3000:]
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not ln.startswith(ALLOWED_STDERR)]
    assert len(errors) == 1, f"expected one error line, got {len(errors)}:\n{outcome.err[-3000:]}"
    (line,) = errors
    assert line.startswith("edgeprune "), line
    assert lines[-1] == line, f"the error is not the last line:\n{outcome.err[-3000:]}"
    for culprit in culprits:
        assert culprit in line, f"{culprit!r} not named in: {line}"
    return line


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (hidden ones too)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(parent: Path, name: str) -> list[str]:
    """Staging folders, old copies and lock files of out folder ``name`` left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def tiny_tflite(path: Path) -> Path:
    """A tiny conv model (16x16 RGB input, 8 channels) converted to ``path`` with litert-torch."""
    import litert_torch
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).eval()
    litert_torch.convert(model, (torch.randn(1, 3, 16, 16),)).export(str(path))
    return path


def save_default_model(folder: Path) -> tuple[Path, Path, Path]:
    """Seeded default-model weights, a 50% plan of them and the pruned model saved from it (8x8 digits inputs):
    ``(m.safetensors, plan.json, pruned/)``."""
    import copy

    import torch

    from edgeprune.models import ModelSpec, build_model, save_weights
    from edgeprune.prune import apply_plan, make_plan, save_pruned

    torch.manual_seed(0)
    spec = ModelSpec("edgeprune:default")
    model = build_model(spec)
    weights = folder / "m.safetensors"
    save_weights(model, weights)
    example = torch.zeros(1, 1, 8, 8)
    plan = make_plan(model, example, 0.5, spec=spec, round_to=4)
    plan.save(folder / "plan.json")
    save_pruned(folder / "pruned", apply_plan(copy.deepcopy(model), plan, example), plan)
    return weights, folder / "plan.json", folder / "pruned"


_MOUNT_THEN_RUN = """
mount -t tmpfs -o "$EP_OPTS" tmpfs "$EP_MOUNT" || exit 99
"$@"
rc=$?
find "$EP_MOUNT" -mindepth 1 -printf '%P\\n' > "$EP_LISTING"
exit $rc
"""


def _unshare() -> list[str] | None:
    """``unshare`` flags giving this process a private mount namespace where it may mount a tmpfs (root: ``-m``;
    others: ``-rm``, an unprivileged user namespace), or None when neither works here."""
    import shutil
    import tempfile

    if sys.platform != "linux" or shutil.which("unshare") is None:
        return None
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    with tempfile.TemporaryDirectory() as folder:
        probe = ["unshare", *flags, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", folder]
        if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
            return None
    return flags


def run_cli_on_tmpfs(mount: Path, size: str, *args: str, read_only: bool = False) -> tuple[Outcome, list[str]]:
    """Run the CLI with a fresh tmpfs of ``size`` (optionally read-only) mounted on ``mount`` in a private mount
    namespace (nothing leaks to the machine, even if the test dies); return the outcome and the files left on it.
    Skips the test, saying why, where no mount namespace with a tmpfs can be made."""
    import pytest

    flags = _unshare()
    if flags is None:
        pytest.skip(
            "cannot mount a small tmpfs here: needs Linux with unshare and root or unprivileged user namespaces"
        )
    mount.mkdir(parents=True, exist_ok=True)
    listing = mount.parent / f".{mount.name}.listing"
    env = cli_env(EP_MOUNT=str(mount), EP_OPTS=f"size={size}" + (",ro" if read_only else ""), EP_LISTING=str(listing))
    cmd = ["unshare", *flags, "sh", "-c", _MOUNT_THEN_RUN, "sh", sys.executable, "-m", "edgeprune", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode == 99:
        pytest.skip(f"mounting a tmpfs failed: {proc.stderr.strip()[-300:]}")
    files = listing.read_text().splitlines() if listing.exists() else []
    return Outcome(proc.returncode, proc.stdout, proc.stderr), files
