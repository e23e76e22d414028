"""No pickle anywhere: a malicious pickle posing as a checkpoint, a fine-tune checkpoint or data is refused, its code
never runs (a marker file proves it), and the message never repeats torch's or numpy's advice to load it unsafely."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hardening_support import error_line, run_main

UNSAFE_ADVICE = ("weights_only=False", "weights_only` set to `False", "allow_pickle=True", "load it unsafely")


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _no_unsafe_advice(text: str) -> None:
    assert not [a for a in UNSAFE_ADVICE if a in text], text


@pytest.mark.parametrize("kind", ["state_dict_with_payload", "whole_object", "lightning_style"])
def test_malicious_checkpoint_is_refused_without_running(model_files, tmp_path: Path, capsys, kind: str) -> None:
    _, plan, _ = model_files
    marker = tmp_path / "MARKER"
    evil = tmp_path / f"{kind}.pt"
    obj = {
        "state_dict_with_payload": {"stem.0.weight": Payload(marker)},
        "whole_object": Payload(marker),
        "lightning_style": {"state_dict": {"w": torch.zeros(1)}, "callbacks": Payload(marker)},
    }[kind]
    torch.save(obj, evil)
    out = tmp_path / "out"
    result = run_main(capsys, "prune", "--plan", plan, "--checkpoint", evil, "--data", "digits", "--out", out)
    line = error_line(result, 2, str(evil), "never unpickles", "state_dict")
    _no_unsafe_advice(line)
    assert not marker.exists() and not out.exists()


def test_malicious_teacher_file_is_refused(model_files, tmp_path: Path, capsys) -> None:
    weights, _, pruned = model_files
    marker = tmp_path / "MARKER"
    torch.save(Payload(marker), tmp_path / "teacher.pth")
    args = ["finetune", "--pruned", pruned, "--checkpoint", weights, "--teacher", tmp_path / "teacher.pth"]
    result = run_main(capsys, *args, "--data", "digits", "--epochs", "1", "--out", tmp_path / "run")
    _no_unsafe_advice(error_line(result, 2, "teacher.pth", "never unpickles"))
    assert not marker.exists()


def test_malicious_newest_finetune_checkpoint_is_skipped_on_resume(model_files, tmp_path: Path, capsys) -> None:
    """``--resume`` reads checkpoints weights-only: a planted pickle is skipped with a note (no unsafe advice) and
    the run continues from the newest checkpoint that loads."""
    _, _, pruned = model_files
    run = tmp_path / "run"
    args = ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits", "--out", run]
    assert run_main(capsys, *args, "--epochs", "2").code == 0
    newest = sorted((run / "checkpoints").glob("s*-e0002.pt"))
    assert len(newest) == 1
    newest[0].unlink()  # as if killed before epoch 2 was saved
    marker = tmp_path / "MARKER"
    planted = run / "checkpoints" / "s99999999-e0009.pt"  # sorts after every real one
    torch.save({"format": "edgeprune-finetune-checkpoint", "version": 1, "x": Payload(marker)}, planted)
    result = run_main(capsys, *args, "--epochs", "2", "--resume")
    assert result.code == 0, result.err
    notes = [ln for ln in result.err.splitlines() if ln.startswith("note: skipping")]
    assert len(notes) == 1 and str(planted) in notes[0] and "never unpickles" in notes[0]
    _no_unsafe_advice(result.err)
    assert not marker.exists()
    assert "epoch 2/2" in result.err and "epoch 1/2" not in result.err  # resumed after epoch 1, not from scratch


def test_npz_with_pickled_objects_is_refused(model_files, tmp_path: Path, capsys) -> None:
    weights, plan, _ = model_files
    marker = tmp_path / "MARKER"
    data = tmp_path / "data.npz"
    np.savez(data, x=np.array([Payload(marker), 1], dtype=object), y=np.array([0, 1]))
    args = ["prune", "--plan", plan, "--checkpoint", weights, "--data", f"npz:{data}", "--out", tmp_path / "out"]
    line = error_line(run_main(capsys, *args), 2, str(data), "'x'", "never unpickles")
    _no_unsafe_advice(line)
    assert not marker.exists()
