"""A plan (plan.json, a saved pruned model) is data: it never chooses what is imported or called.

A plan naming ``sys:exit`` made ``export``/``finetune`` exit 0 having written nothing, ``os:abort`` killed the
process, and a plan naming any importable module ran its top-level code. Each case runs the real CLI in a
subprocess (an exit or abort would take pytest down in-process), from a working directory holding a hostile
module that writes a marker file when imported and another when its factory is called.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from hardening_support import error_line, run_cli, run_main

HOSTILE = """
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("top-level code of a module a plan named ran")

def make(**kwargs):
    Path(__file__).with_name("CALLED").write_text("a factory a plan named was called")
    raise SystemExit(0)
"""
MARKERS = ("IMPORTED", "CALLED")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A working directory with the hostile module importable as ``hostile:make``."""
    (tmp_path / "hostile.py").write_text(HOSTILE)
    return tmp_path


def _plan_naming(pruned: Path, spec: str, folder: Path) -> Path:
    """A copy of the saved pruned model whose plan names ``spec`` as its architecture."""
    target = folder / f"pruned-{spec.replace(':', '-')}"
    shutil.copytree(pruned, target)
    plan = json.loads((target / "plan.json").read_text())
    plan["model"]["spec"] = spec
    (target / "plan.json").write_text(json.dumps(plan))
    return target


def _no_markers(folder: Path) -> None:
    assert not [m for m in MARKERS if (folder / m).exists()], "the plan made edgeprune import or call its module"


@pytest.mark.parametrize(
    ("spec", "command"),
    [("sys:exit", "export"), ("os:abort", "finetune"), ("hostile:make", "prune")],
)
def test_plan_naming_code_is_refused(model_files, workdir: Path, spec: str, command: str) -> None:
    weights, _, pruned = model_files
    hostile = _plan_naming(pruned, spec, workdir)
    out = workdir / "out"
    args = {
        "export": ["export", "--pruned", hostile, "--data", "digits", "--format", "onnx"],
        "finetune": ["finetune", "--pruned", hostile, "--data", "digits", "--epochs", "1", "--teacher", "none"],
        "prune": ["prune", "--plan", hostile / "plan.json", "--checkpoint", weights, "--data", "digits"],
    }[command]
    result = run_cli(*args, "--out", out, cwd=workdir)
    line = error_line(result, 2, str(hostile / "plan.json"), "'model.spec'", spec, f"--model {spec}")
    assert "user code" in line  # says why
    _no_markers(workdir)
    assert not out.exists() or not any(out.iterdir())


def test_finetune_teacher_folder_naming_code_is_refused(model_files, workdir: Path, capsys, monkeypatch) -> None:
    """The teacher (``--teacher DIR``) is a saved pruned model too: its plan chooses nothing either."""
    _, _, pruned = model_files
    monkeypatch.chdir(workdir)  # hostile.py is importable from here
    monkeypatch.setattr(sys, "path", list(sys.path))
    hostile = _plan_naming(pruned, "hostile:make", workdir)
    args = ["finetune", "--pruned", pruned, "--teacher", hostile, "--data", "digits", "--epochs", "1"]
    error_line(run_main(capsys, *args, "--out", workdir / "out"), 2, str(hostile / "plan.json"), "hostile:make")
    _no_markers(workdir)


def test_plan_spec_must_match_the_spec_the_user_gives(model_files, workdir: Path, capsys) -> None:
    """``--model`` does not silently replace what the plan was made for."""
    _, _, pruned = model_files
    hostile = _plan_naming(pruned, "sys:exit", workdir)
    args = ["export", "--pruned", hostile, "--model", "edgeprune:default", "--data", "digits", "--format", "onnx"]
    line = error_line(run_main(capsys, *args, "--out", workdir / "out"), 2, "'model.spec'", "sys:exit")
    assert "edgeprune:default" in line


def test_api_load_pruned_imports_only_the_spec_the_caller_names(model_files, workdir: Path, monkeypatch) -> None:
    """The same rule in the API: ``load_pruned(dir)`` refuses; ``load_pruned(dir, spec=...)`` is the caller's
    decision, and only then is the module imported (the markers prove the refusal was not an accident)."""
    from edgeprune.errors import EdgepruneError
    from edgeprune.prune import load_pruned

    _, _, pruned = model_files
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(sys, "path", list(sys.path))  # userload puts the working directory on it
    monkeypatch.delitem(sys.modules, "hostile", raising=False)
    hostile = _plan_naming(pruned, "hostile:make", workdir)
    with pytest.raises(EdgepruneError, match=r"names user code 'hostile:make'.*pass --model hostile:make"):
        load_pruned(hostile)
    _no_markers(workdir)
    with pytest.raises(SystemExit):  # the user named it: their code runs (and here exits)
        load_pruned(hostile, spec="hostile:make")
    assert all((workdir / m).exists() for m in MARKERS)
    sys.modules.pop("hostile", None)
