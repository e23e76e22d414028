"""Every setting is checked by type and range before any work: a bad target file or flag is one line naming the
file and field, exit 2, and nothing is loaded, trained or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardening_support import error_line, run_main

TARGET = """name = "tiny"
[model]
spec = "edgeprune:default"
checkpoint = "{checkpoint}"
[data]
spec = "digits"
[finetune]
epochs = 1
[export]
format = "onnx"
"""


def _target(tmp_path: Path, checkpoint: Path, text: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(TARGET.format(checkpoint=checkpoint) + text)
    return path


@pytest.mark.parametrize(
    ("toml", "culprit"),
    [
        ("prune = 5\n", "prune: must be a table"),
        ("[model2]\nx = 1\n", "model2"),
        ("[finetune2]\n", "finetune2"),
        ('[bench]\ncores = [0, "1; rm -rf /"]\n', "bench.cores[1]"),
        ("[bench]\ncores = [-1]\n", "bench.cores"),
        ("[bench]\nthreads = true\n", "bench.threads"),
        ("[bench]\nruns = 0\n", "bench.runs"),
        ('[bench]\nremote_workdir = "tmp"\n', "bench.remote_workdir"),
        ("[prune]\nmacs = nan\n", "prune.macs"),
        ("[prune]\nmacs = 1e400\n", "prune.macs"),
        ("[prune]\nround_to = 1.5\n", "prune.round_to"),
        ("[prune]\nignored_layers = [1]\n", "prune.ignored_layers[0]"),
        ('[data]\nmean = [0.5, "x"]\nstd = [1, 1]\n', "data.mean[1]"),
        ("[data]\nresize = [0, 8]\n", "data.resize"),
        ('[export]\nprecision = "int4"\n', "export.precision"),
        ('[export]\nprecision = "int8"\n', "format 'onnx' writes"),
        ("[finetune]\nseed = -1\n", "finetune.seed"),
    ],
)
def test_bad_target_value_is_one_line_naming_the_field(
    model_files, tmp_path: Path, capsys, toml: str, culprit: str
) -> None:
    weights, _, _ = model_files
    text = TARGET.format(checkpoint=weights)
    section = toml.split("\n", 1)[0]
    if not section.startswith("["):  # a top-level key goes before the first table
        text = toml + text
    elif section in text:  # a second [section] header would be a TOML error: merge into the first
        text = text.replace(section + "\n", toml)
    else:
        text += toml
    target = tmp_path / "t.toml"
    target.write_text(text)
    out = tmp_path / "out"
    result = run_main(capsys, "deploy", "--target", target, "--out", out)
    error_line(result, 2, str(target), culprit)
    assert result.out == ""  # nothing was loaded or announced
    assert not out.exists()


def test_checkpoint_of_the_wrong_type(model_files, tmp_path: Path, capsys) -> None:
    target = tmp_path / "t.toml"
    target.write_text(TARGET.replace('checkpoint = "{checkpoint}"', "checkpoint = 5"))
    error_line(run_main(capsys, "deploy", "--target", target), 2, str(target), "model.checkpoint", "a string")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_lr_in_a_target_is_refused(model_files, tmp_path: Path, capsys, value: str) -> None:
    weights, _, _ = model_files
    target = tmp_path / "t.toml"
    target.write_text(TARGET.format(checkpoint=weights).replace("epochs = 1\n", f"epochs = 1\nlr = {value}\n"))
    error_line(run_main(capsys, "deploy", "--target", target), 2, str(target), "finetune.lr", "finite")


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_bad_lr_flag_is_refused_before_training(model_files, tmp_path: Path, capsys, value: str) -> None:
    """``finetune --lr`` used to train the teacher for 12 epochs before saying the lr was bad."""
    _, _, pruned = model_files
    run = tmp_path / "run"
    args = ["finetune", "--pruned", pruned, "--data", "digits", f"--lr={value}", "--out", run]
    result = run_main(capsys, *args)
    error_line(result, 2, "finetune.lr")
    assert result.out == "" and "epoch" not in result.err  # no model, teacher or data was touched
    assert not run.exists()
    deploy = _target(tmp_path, model_files[0], "")
    error_line(run_main(capsys, "deploy", "--target", deploy, f"--lr={value}"), 2, "finetune.lr")


@pytest.mark.parametrize("name", ["../../../x", "..", "a/b", "", " x", "x" * 65, "con\nsole"])
def test_target_name_cannot_leave_the_deploy_folder(model_files, tmp_path: Path, capsys, monkeypatch, name) -> None:
    """The name builds the default out folder (build/deploy/NAME): ``../../../x`` used to write outside it."""
    import json

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "t.toml"
    target.write_text(f"name = {json.dumps(name)}\n" + TARGET.format(checkpoint=model_files[0]).split("\n", 1)[1])
    error_line(run_main(capsys, "deploy", "--target", target), 2, str(target), "name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]  # no build/ folder, nothing outside it


@pytest.mark.parametrize(
    ("flags", "culprit"),
    [(["--runs", "0"], "--runs"), (["--threads", "0"], "--threads"), (["--repeats", "0"], "--repeats"),
     (["--warmup", "-1"], "--warmup")],
)  # fmt: skip
def test_bench_counts_are_refused_not_replaced(tmp_path: Path, capsys, flags: list[str], culprit: str) -> None:
    """``bench --runs 0`` silently ran the target's 200 runs."""
    artifact = tmp_path / "m.tflite"
    artifact.write_bytes(b"\0\0\0\0TFL3" + bytes(64))
    args = ["bench", "--target", "tflite", "--artifact", artifact, "--reference", artifact, "--out", tmp_path / "b"]
    result = run_main(capsys, *args, *flags)
    error_line(result, 2, culprit)
    assert not (tmp_path / "b").exists()
