"""Outputs: nothing of the user's is overwritten without --force, the out folder is checked before any work, one
run per out folder, results appear all at once (an interrupted run leaves the old ones as they were), and a full
disk is one line naming the file being written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardening_support import cli_env, error_line, leftovers, run_cli_on_tmpfs, run_main, snapshot

TARGET = """name = "tiny"
[model]
spec = "edgeprune:default"
checkpoint = "{checkpoint}"
[data]
spec = "digits"
[prune]
macs = 0.6
round_to = 8
[finetune]
epochs = {epochs}
[export]
format = "onnx"
parity_samples = 16
[bench]
warmup = 2
runs = 10
"""


def _target(tmp_path: Path, checkpoint: Path, epochs: int = 1) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TARGET.format(checkpoint=checkpoint, epochs=epochs))
    return path


def _users_results(out: Path) -> dict[str, str]:
    """An out folder holding a user's earlier results (the names deploy writes)."""
    out.mkdir(parents=True)
    for name in ("pruned_fp32.onnx", "pruned_fp32.onnx.json", "report.md", "report.json"):
        (out / name).write_text(f"the user's {name}\n")
    return snapshot(out)


def test_deploy_refuses_a_non_empty_out_without_force(model_files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    before = _users_results(out)
    result = run_main(capsys, "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out)
    error_line(result, 2, str(out), "--force")
    assert result.out == ""  # refused before loading anything
    assert snapshot(out) == before and leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("case", ["out_is_a_file", "parent_is_a_file"])
def test_deploy_out_that_cannot_be_a_folder(model_files, tmp_path: Path, capsys, case: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a user's file\n")
    out = blocker if case == "out_is_a_file" else blocker / "out"
    result = run_main(capsys, "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out)
    error_line(result, 2, str(out))
    assert result.out == "" and blocker.read_text() == "a user's file\n"


def test_out_that_is_a_file_fails_before_any_work_in_every_writing_command(model_files, tmp_path: Path, capsys):
    weights, plan, pruned = model_files
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    commands = [
        ["prune", "--plan", plan, "--checkpoint", weights, "--data", "digits"],
        ["export", "--pruned", pruned, "--data", "digits", "--format", "onnx"],
        ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits", "--epochs", "1"],
    ]
    for args in commands:
        result = run_main(capsys, *args, "--out", blocker)
        error_line(result, 2, f"--out {blocker}", "is a file")
        assert result.out == "" and "epoch" not in result.err  # nothing loaded, nothing trained


def test_deploy_into_a_read_only_folder_fails_before_training(model_files, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    target = _target(tmp_path, model_files[0])
    result, _ = run_cli_on_tmpfs(mount, "1m", "deploy", "--target", target, "--out", mount / "out", read_only=True)
    error_line(result, 2, str(mount), "not writable")
    assert "[edgeprune] baseline" not in result.out and "epoch" not in result.err


def test_deploy_out_that_is_a_mount_point_fails_before_training(model_files, tmp_path: Path) -> None:
    """It used to train and fine-tune, then fail renaming the results into place (EBUSY)."""
    out = tmp_path / "mounted"
    result, _ = run_cli_on_tmpfs(out, "1m", "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out)
    error_line(result, 2, str(out), "mount point")
    assert "[edgeprune] baseline" not in result.out


HOLD_LOCK = """
import sys
from pathlib import Path
from edgeprune.pipeline.outputs import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_second_run_into_the_same_out_fails_at_once_naming_the_holder(model_files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_main(capsys, "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out)
        error_line(result, 2, str(out), f"pid {holder.pid}", "in use")
        assert result.out == "" and not out.exists()
    finally:
        holder.communicate("", timeout=30)
    assert leftovers(tmp_path, "out") == []  # the holder's lock file went with it


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_interrupted_deploy_with_force_keeps_the_old_results(model_files, tmp_path: Path, sig, code, word) -> None:
    """With --force the old results stay until the new ones are complete: a run killed half way (Ctrl-C, SIGTERM)
    leaves them byte for byte, and no staging folder or lock behind."""
    out = tmp_path / "out"
    before = _users_results(out)
    target = _target(tmp_path, model_files[0], epochs=50)  # long enough to be interrupted while training
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeprune", "deploy", "--target", str(target), "--out", str(out), "--force"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        for line in proc.stdout:  # wait until it is working (the staging folder exists by then)
            if line.startswith("[edgeprune] pruned"):
                break
        staging = [p for p in leftovers(tmp_path, "out") if ".staging-" in p]
        assert staging, "the run did not stage its results beside --out"
        time.sleep(0.5)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"edgeprune deploy: {word}"
    assert snapshot(out) == before
    assert leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("command", ["prune", "export"])
def test_full_disk_is_one_line_naming_the_file(model_files, tmp_path: Path, command: str) -> None:
    """ENOSPC for real: a 64 KiB tmpfs (in a private mount namespace) cannot hold the weights or the artifact."""
    weights, plan, pruned = model_files
    mount = tmp_path / "small"
    out = mount / "out"
    args = {
        "prune": ["prune", "--plan", plan, "--checkpoint", weights, "--data", "digits"],
        "export": ["export", "--pruned", pruned, "--data", "digits", "--format", "onnx"],
    }[command]
    result, files = run_cli_on_tmpfs(mount, "64k", *args, "--out", out)
    written = {"prune": "weights.safetensors", "export": "pruned_fp32.onnx"}[command]
    error_line(result, 2, "no space left on the device", f"writing {out / written}")
    assert [f for f in files if f != "out"] == []  # no half-written or temp file left on the full disk


@pytest.mark.slow
def test_full_disk_during_deploy_keeps_nothing_half_written(model_files, tmp_path: Path) -> None:
    mount = tmp_path / "small"
    result, files = run_cli_on_tmpfs(
        mount, "256k", "deploy", "--target", _target(tmp_path, model_files[0]), "--out", mount / "out"
    )
    error_line(result, 2, "no space left on the device", str(mount))
    assert files == []  # the staging folder went, nothing was published


@pytest.mark.slow
def test_deploy_with_force_replaces_old_results_only_when_complete(model_files, tmp_path: Path) -> None:
    from hardening_support import run_cli

    out = tmp_path / "out"
    before = _users_results(out)
    result = run_cli("deploy", "--target", _target(tmp_path, model_files[0]), "--out", out, "--force")
    assert result.code == 0, result.err[-2000:]
    after = snapshot(out)
    assert {"report.json", "report.md", "pruned_fp32.onnx", "baseline_fp32.onnx"} <= set(after)
    assert all(after.get(name) != digest for name, digest in before.items())
    assert leftovers(tmp_path, "out") == []
    assert os.path.getsize(out / "pruned_fp32.onnx") > 1000


def test_finetune_default_run_folder_stays_under_build_finetune(model_files, tmp_path: Path, capsys, monkeypatch):
    """The default run folder is derived from the --pruned name: ``--pruned ..`` used to make it build/finetune/..,
    i.e. build/ itself."""
    import shutil

    _, _, pruned = model_files
    shutil.copytree(pruned, tmp_path / "mine")
    (tmp_path / "mine" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "mine" / "sub")
    result = run_main(capsys, "finetune", "--pruned", "..", "--teacher", "none", "--data", "digits", "--epochs", "1")
    assert result.code == 0, result.err
    assert sorted(p.name for p in Path("build").iterdir()) == ["finetune"]
    assert (Path("build") / "finetune" / "mine" / "finetune.json").is_file()
