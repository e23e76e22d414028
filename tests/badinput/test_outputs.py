"""Outputs: edgeprune owns only what it wrote (the folder's manifest lists it); files it did not write are refused by
name with or without --force and stay byte-identical; its own earlier results are replaced only with --force; the
out folder is checked before any work, one run per out folder, results appear all at once (an interrupted run
leaves the old ones as they were), and a full disk is one line naming the file being written."""

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
allow_chance_baseline = true  # seeded untrained weights: the chain's mechanics, not its accuracy
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


def _earlier_results(out: Path, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """An out folder as an earlier deploy left it: the names deploy writes, and its manifest listing them."""
    from edgeprune.manifest import Manifest, entry_of, write_manifest

    out.mkdir(parents=True)
    names = ("pruned_fp32.onnx", "pruned_fp32.onnx.json", "report.md", "report.json", *extra)
    for name in names:
        (out / name).write_text(f"an earlier run's {name}\n")
    write_manifest(out, Manifest("deploy", tuple(entry_of(out, n) for n in sorted(names))))
    return snapshot(out)


def test_deploy_refuses_its_earlier_results_without_force(model_files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    before = _earlier_results(out)
    result = run_main(capsys, "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out)
    error_line(result, 2, f"--out {out} already holds results of edgeprune", "pass --force to replace them")
    assert result.out == ""  # refused before loading anything
    assert snapshot(out) == before and leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("force", [False, True])
def test_files_edgeprune_did_not_write_are_refused_by_name(model_files, tmp_path: Path, capsys, force) -> None:
    """Issue 24, item 1: an out folder holding the user's notes.txt and mynet.py; --force used to delete both."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    (out / "mynet.py").write_text("import torch\n")
    before = snapshot(out)
    args = ["deploy", "--target", _target(tmp_path, model_files[0]), "--out", out, *(["--force"] if force else [])]
    result = run_main(capsys, *args)
    error_line(result, 2, f"--out {out} holds 2 file(s) edgeprune did not write", "mynet.py, notes.txt",
               "never writes over or deletes them, with or without --force")  # fmt: skip
    assert result.out == "" and snapshot(out) == before and leftovers(tmp_path, "out") == []


def test_force_deploy_over_a_foreign_file_leaves_it_byte_identical(model_files, tmp_path: Path, capsys) -> None:
    """A foreign file among edgeprune's own results, and one of those edited since: both named, nothing touched."""
    out = tmp_path / "out"
    _earlier_results(out)
    (out / "notes.txt").write_bytes(b"\x00the user's own bytes\xff")
    (out / "report.md").write_text("# my edits\n")
    before = snapshot(out)
    result = run_main(capsys, "deploy", "--target", _target(tmp_path, model_files[0]), "--out", out, "--force")
    error_line(
        result, 2, "edgeprune did not write", "notes.txt", "1 file(s) changed since edgeprune wrote them: report.md"
    )
    assert snapshot(out) == before


WRITERS = {
    "prune": lambda w, plan, pruned: ["prune", "--plan", plan, "--checkpoint", w, "--data", "digits"],
    "export": lambda w, plan, pruned: ["export", "--pruned", pruned, "--data", "digits", "--format", "onnx"],
    "finetune": lambda w, plan, pruned: ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits"],
    "plan": lambda w, plan, pruned: ["plan", "--checkpoint", w, "--data", "digits", "--macs", "0.5"],
    "sensitivity": lambda w, plan, pruned: ["sensitivity", "--checkpoint", w, "--data", "digits"],
    "analyze": lambda w, plan, pruned: ["analyze", "--model", "edgeprune:default"],
    "compare": lambda w, plan, pruned: ["compare", "--pruned", pruned, "--checkpoint", w, "--data", "digits"],
    "bench": lambda w, plan, pruned: ["bench", "--target", "onnx", "--artifact", "m.onnx"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_every_writing_command_refuses_files_it_did_not_write(model_files, tmp_path, capsys, command) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    result = run_main(capsys, *WRITERS[command](*model_files), "--out", out, "--force")
    error_line(result, 2, f"--out {out} holds 1 file(s) edgeprune did not write", "notes.txt")
    assert result.out == "" and snapshot(out) == {"notes.txt": snapshot(out)["notes.txt"]}


def test_force_replaces_exactly_edgeprunes_earlier_files(model_files, tmp_path: Path, capsys) -> None:
    """prune --force over an earlier pruned model: the new files are written, the earlier run's file that this
    run does not write goes, and the manifest lists exactly the new files."""
    from edgeprune.manifest import MANIFEST, read_manifest

    out = tmp_path / "out"
    _earlier_results(out, extra=("weights.safetensors",))
    result = run_main(capsys, *WRITERS["prune"](*model_files), "--out", out, "--force")
    assert result.code == 0, result.err
    assert sorted(snapshot(out)) == [MANIFEST, "plan.json", "weights.safetensors"]
    listed = read_manifest(out).files
    assert [e.path for e in listed] == ["plan.json", "weights.safetensors"]
    assert all(e.size == (out / e.path).stat().st_size for e in listed)


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


def test_out_that_is_a_mount_point_is_written_in_place(model_files, tmp_path: Path) -> None:
    """Results are staged inside the out folder and moved into place file by file, so a mount point works (it
    used to train and fine-tune, then fail renaming the folder over the mount point)."""
    out = tmp_path / "mounted"
    result, files = run_cli_on_tmpfs(out, "4m", *WRITERS["prune"](*model_files), "--out", out)
    assert result.code == 0, result.err[-2000:]
    assert sorted(files) == [".edgeprune-manifest.json", "plan.json", "weights.safetensors"]


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
        assert result.out == "" and snapshot(out) == {".edgeprune-lock": snapshot(out)[".edgeprune-lock"]}
    finally:
        holder.communicate("", timeout=30)
    assert snapshot(out) == {} and leftovers(tmp_path, "out") == []  # the holder's lock file went with it


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_interrupted_deploy_with_force_keeps_the_old_results(model_files, tmp_path: Path, sig, code, word) -> None:
    """With --force the old results stay until the new ones are complete: a run killed half way (Ctrl-C, SIGTERM)
    leaves them byte for byte, and no staging folder or lock behind."""
    out = tmp_path / "out"
    before = _earlier_results(out)
    target = _target(tmp_path, model_files[0], epochs=50)  # long enough to be interrupted while training
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeprune", "deploy", "--target", str(target), "--out", str(out), "--force"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        # Ctrl-C as a terminal delivers it: a suite started as a background job (or under a runner that ignores
        # SIGINT) hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for line in proc.stderr:  # wait until it is training (the staging folder exists by then)
            if line.startswith("epoch 2/50"):
                break
        staging = [p.name for p in out.iterdir() if p.name.startswith(".edgeprune-staging-")]
        assert staging, "the run did not stage its results inside --out"
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
    assert snapshot(out) == before  # no staging folder or lock inside either
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
    from edgeprune.manifest import read_manifest, survey
    from hardening_support import run_cli

    out = tmp_path / "out"
    before = _earlier_results(out, extra=("pruned_int8.tflite",))
    result = run_cli("deploy", "--target", _target(tmp_path, model_files[0]), "--out", out, "--force")
    assert result.code == 0, result.err[-2000:]
    after = snapshot(out)
    assert {"report.json", "report.md", "pruned_fp32.onnx", "baseline_fp32.onnx"} <= set(after)
    assert "pruned_int8.tflite" not in after  # the earlier run's file this run does not write
    assert all(after.get(name) != digest for name, digest in before.items())
    assert leftovers(tmp_path, "out") == [] and survey(out).not_ours == ()
    assert {e.path for e in read_manifest(out).files} == set(after) - {".edgeprune-manifest.json"}
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


def test_cli_cases_run_in_their_own_folder_never_the_checkouts_build(tmp_path: Path, own_working_directory) -> None:
    """Issue 24, item A: `make deploy TARGET=tflite` then `make test` failed three CLI cases, which ran `deploy`
    with the default --out build/deploy/tflite of the checkout that the first command had filled. Every test now
    runs (and starts its CLI runs) in a fresh empty folder of its own (tests/conftest.py)."""
    from hardening_support import run_cli

    repo = Path(__file__).resolve().parents[2]
    assert Path.cwd() == own_working_directory and list(Path.cwd().iterdir()) == []
    assert repo != Path.cwd() and repo not in Path.cwd().parents
    _earlier_results(Path("build") / "deploy" / "tflite")  # what `make deploy TARGET=tflite` leaves behind
    trapped = run_cli("deploy", "--target", "tflite", "--data", "cifar")  # the working directory is inherited
    error_line(trapped, 2, "--out build/deploy/tflite already holds results of edgeprune")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    error_line(run_cli("deploy", "--target", "tflite", "--data", "cifar", cwd=fresh), 2, "unknown data spec 'cifar'")
