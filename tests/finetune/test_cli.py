"""``edgeprune finetune``: plan file or pruned folder in, resumable run folder out; SIGKILL mid-run then resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from edgeprune.commands.main import main
from edgeprune.config import FinetuneConfig
from edgeprune.data import take
from edgeprune.finetune import fit
from edgeprune.finetune.checkpoint import list_checkpoints, load_checkpoint_file
from edgeprune.models import ModelSpec, build_model, save_weights
from edgeprune.models.checkpoint import read_state_dict
from edgeprune.prune import Plan, load_pruned, make_plan

SPEC = ModelSpec("tinymodels:edgenet4")


@pytest.fixture()
def inputs(digits, tmp_path) -> tuple[Path, Path]:
    """(unpruned weights trained for one epoch, plan.json pruning half of every group)."""
    torch.manual_seed(0)
    base = build_model(SPEC)
    fit(base, digits, FinetuneConfig(epochs=1, lr=5e-3, distill=False))
    save_weights(base, tmp_path / "base.safetensors")
    make_plan(base, take(digits.train, 1)[0], 0.5, spec=SPEC).save(tmp_path / "plan.json")
    return tmp_path / "base.safetensors", tmp_path / "plan.json"


def _args(plan: Path, base: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--plan", str(plan), "--model", SPEC.spec, "--checkpoint", str(base), "--data", "digits",
            "--out", str(out), "--device", "cpu", *extra]  # fmt: skip


def test_plan_file_then_pruned_folder(inputs, tmp_path, capsys) -> None:
    base, plan = inputs
    assert main(_args(plan, base, tmp_path / "run", "--epochs", "2")) == 0
    summary = json.loads((tmp_path / "run" / "finetune.json").read_text())
    assert summary["val_metric"] > summary["val_metric_before"] and summary["teacher_val_metric"] is not None
    assert summary["config"]["distill"] is True and len(summary["history"]) == 2
    _, saved = load_pruned(tmp_path / "run" / "model", SPEC.spec)
    assert saved.model == SPEC.to_dict() and saved.groups == Plan.load(plan).groups
    # the run's model folder is a saved pruned model; it names user code, so --model must name it too
    folder = str(tmp_path / "run" / "model")
    args = ["finetune", "--pruned", folder, "--data", "digits", "--teacher", "none", "--epochs", "1"]
    assert main([*args, "--out", str(tmp_path / "again")]) == 2
    assert "names user code 'tinymodels:edgenet4'" in capsys.readouterr().err
    args += ["--model", SPEC.spec]
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "finetune.json").read_text())["config"]["distill"] is False
    assert main([*args, "--out", folder]) == 2  # writing into an input is refused
    assert f"--out {folder} is the input folder of --pruned {folder}" in capsys.readouterr().err


def test_plan_without_model_spec_needs_model(inputs, tmp_path, capsys) -> None:
    base, plan = inputs
    data = json.loads(plan.read_text())
    data["model"] = None
    (tmp_path / "bare.json").write_text(json.dumps(data))
    without_model = [a for a in _args(tmp_path / "bare.json", base, tmp_path / "run", "--epochs", "1")]
    del without_model[3:5]
    assert main(without_model) == 2
    assert "field 'model' is empty; pass the model spec (--model)" in capsys.readouterr().err
    assert main(_args(tmp_path / "bare.json", base, tmp_path / "run2", "--epochs", "1")) == 0


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(inputs, tmp_path, subprocess_env) -> None:
    base, plan = inputs
    extra = ("--epochs", "5", "--batch-size", "16")
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edgeprune", *_args(plan, base, run, *extra)]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not list_checkpoints(run) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup handlers run
    proc.wait()
    assert list_checkpoints(run), proc.stderr.read().decode() if proc.stderr else ""
    assert not (run / "result.json").exists(), "the run finished before it could be killed"
    done = subprocess.run([*cmd, "--resume"], env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert main(_args(plan, base, tmp_path / "ref", *extra)) == 0  # uninterrupted, same settings, one thread
    resumed = read_state_dict(run / "model" / "weights.safetensors")
    reference = read_state_dict(tmp_path / "ref" / "model" / "weights.safetensors")
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)
    summary = json.loads((run / "finetune.json").read_text())
    assert summary["resumed_from"] and len(summary["history"]) == 5
    assert summary["history"] == json.loads((tmp_path / "ref" / "finetune.json").read_text())["history"]
    # nothing half-written survives, and every file of the run reads back
    assert not list((run / "checkpoints").glob(".*"))
    for path in list_checkpoints(run):
        assert load_checkpoint_file(path)["step"] > 0
    load_pruned(run / "model", SPEC.spec)
    json.loads((run / "result.json").read_text())
