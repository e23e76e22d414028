"""Weights, plans and fine-tune checkpoints that are corrupt, half-written or malformed: one line naming the file
and field; ``finetune --resume`` continues from the newest checkpoint that still reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hardening_support import error_line, run_main, snapshot


def _damage(kind: str, data: bytes) -> bytes:
    if kind == "half_written":
        return data[: len(data) // 2]
    if kind == "header_cut":
        return data[:6]
    if kind == "flipped_header":
        return data[:10] + b"\xff" * 40 + data[50:]
    if kind == "header_length_huge":
        return (2**62).to_bytes(8, "little") + data[8:]
    if kind == "garbage":
        return bytes(range(256)) * 8
    if kind == "empty":
        return b""
    raise AssertionError(kind)


SAFETENSORS_DAMAGE = ["half_written", "header_cut", "flipped_header", "header_length_huge", "garbage", "empty"]


@pytest.mark.parametrize("kind", SAFETENSORS_DAMAGE)
def test_damaged_checkpoint_is_one_line(model_files, tmp_path: Path, capsys, kind: str) -> None:
    weights, plan, _ = model_files
    bad = tmp_path / "m.safetensors"
    bad.write_bytes(_damage(kind, weights.read_bytes()))
    out = tmp_path / "out"
    result = run_main(capsys, "prune", "--plan", plan, "--checkpoint", bad, "--data", "digits", "--out", out)
    error_line(result, 2, str(bad), "safetensors")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("kind", ["half_written", "flipped_header"])
def test_damaged_pruned_weights_are_one_line(model_files, tmp_path: Path, capsys, kind: str) -> None:
    _, _, pruned = model_files
    copy = tmp_path / "pruned"
    shutil.copytree(pruned, copy)
    weights = copy / "weights.safetensors"
    weights.write_bytes(_damage(kind, weights.read_bytes()))
    args = ["export", "--pruned", copy, "--data", "digits", "--format", "onnx", "--out", tmp_path / "out"]
    error_line(run_main(capsys, *args), 2, str(weights))


PLAN_DAMAGE = {
    "keep_is_a_string": (lambda p: p["groups"][0].update(keep="abc"), "'groups[0].keep'"),
    "keep_out_of_range": (lambda p: p["groups"][0].update(keep=[0, 999]), "'stem.0'"),
    "negative_input_shape": (lambda p: p.update(input_shape=[1, 1, -8, 8]), "'input_shape[2]'"),
    "huge_input_shape": (lambda p: p.update(input_shape=[1, 1, 10**9, 10**9]), "'input_shape'"),
    "input_shape_float": (lambda p: p.update(input_shape=[1, 1, 8.5, 8]), "'input_shape[2]'"),
    "groups_not_a_list": (lambda p: p.update(groups={"a": 1}), "groups"),
    "width_negative": (lambda p: p["groups"][0].update(width=-3), "'groups[0].width'"),
    "version_from_the_future": (lambda p: p.update(version=99), "'version'"),
    "model_not_an_object": (lambda p: p.update(model="edgeprune:default"), "model"),
    "num_classes_zero": (lambda p: p["model"].update(num_classes=0), "num_classes"),
    "blocks_not_strings": (lambda p: p.update(blocks=[1, 2]), "'blocks[0]'"),
}


@pytest.mark.parametrize("case", sorted(PLAN_DAMAGE))
def test_malformed_plan_is_one_line_naming_file_and_field(model_files, tmp_path: Path, capsys, case: str) -> None:
    _, _, pruned = model_files
    mutate, field = PLAN_DAMAGE[case]
    copy = tmp_path / "pruned"
    shutil.copytree(pruned, copy)
    plan = json.loads((copy / "plan.json").read_text())
    mutate(plan)
    (copy / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "out"
    args = ["export", "--pruned", copy, "--data", "digits", "--format", "onnx", "--out", out]
    error_line(run_main(capsys, *args), 2, str(copy / "plan.json"), field)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00binary", b"{" * 100_000, b'{"input_shape": [1, 1, 8, 8]'])
def test_plan_that_is_not_json_is_one_line(model_files, tmp_path: Path, capsys, content: bytes) -> None:
    weights, _, _ = model_files
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    args = ["prune", "--plan", plan, "--checkpoint", weights, "--data", "digits", "--out", tmp_path / "o"]
    error_line(run_main(capsys, *args), 2, str(plan))


@pytest.fixture(scope="module")
def finished_run(model_files, tmp_path_factory: pytest.TempPathFactory):
    """A 2-epoch fine-tune run folder (checkpoints after epochs 1 and 2) and the arguments that made it."""
    import torch

    from edgeprune.commands.main import main

    _, _, pruned = model_files
    run = tmp_path_factory.mktemp("finetune") / "run"
    args = ["finetune", "--pruned", str(pruned), "--teacher", "none", "--data", "digits", "--epochs", "2"]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that resume it (one_torch_thread): resume is bit-exact per thread count
    try:
        assert main([*args, "--out", str(run), "--quiet"]) == 0
    finally:
        torch.set_num_threads(before)
    return run, args


@pytest.mark.parametrize("damage", ["half_written", "empty", "garbage"])
def test_resume_skips_a_damaged_newest_checkpoint(finished_run, tmp_path: Path, capsys, damage: str) -> None:
    """``--resume`` with a truncated newest checkpoint used to fail; it now continues from the previous one, and
    the result is bit-identical to the uninterrupted run (resume is exact on CPU)."""
    reference, args = finished_run
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    for produced in ("model", "result.json", "finetune.json"):  # as if killed during epoch 2's checkpoint write
        path = run / produced
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    newest = sorted((run / "checkpoints").glob("*.pt"))[-1]
    newest.write_bytes(_damage(damage, newest.read_bytes()))
    result = run_main(capsys, *args, "--out", run, "--resume")
    assert result.code == 0, result.err
    (note,) = [ln for ln in result.err.splitlines() if ln.startswith("note: skipping")]
    assert str(newest) in note and "weights_only" not in note
    assert "epoch 2/2" in result.err and "epoch 1/2" not in result.err
    resumed = json.loads((run / "finetune.json").read_text())["resumed_from"]
    assert resumed.endswith("-e0001.pt")
    after = snapshot(run / "model")
    assert after and after == snapshot(reference / "model")


def test_resume_with_no_readable_checkpoint_starts_over(finished_run, tmp_path: Path, capsys) -> None:
    reference, args = finished_run
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    for checkpoint in (run / "checkpoints").glob("*.pt"):
        checkpoint.write_bytes(b"")
    result = run_main(capsys, *args, "--out", run, "--resume")
    assert result.code == 0, result.err
    assert len([ln for ln in result.err.splitlines() if ln.startswith("note: skipping")]) == 2
    assert json.loads((run / "finetune.json").read_text())["resumed_from"] is None
    assert snapshot(run / "model") == snapshot(reference / "model")  # a fresh run with the same seed
