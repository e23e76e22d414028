"""Issue 24, items B, 6 and 7: refusals that point at the real cause, in one line, leaving every file as it was.

- B: an image folder is read as torchvision's ImageFolder reads it (RGB); a 1-channel model or checkpoint gets the
  ``--channels 1`` hint instead of a shape dump.
- 6: a plan's per-group rounding step is checked like every other field.
- 7: a pickled checkpoint is refused without torch's warnings before the line; labels beyond the checkpoint's
  classes blame the labels; plan.json has a schema (unknown fields, negative ratios, NaN refused); under make a
  refusal asking for --force says FORCE=1; --quiet prints no epoch lines; result.json stays strict JSON after a
  resume.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hardening_support import error_line, run_cli, run_main, snapshot

GRAY_NET = """
import torch
from torch import nn


def make(num_classes=10):
    # trained on gray images with transforms.Grayscale(1): the first conv takes 1 channel, hard-coded
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))


def make_any(num_classes=10, in_channels=3):
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))
"""


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory) -> Path:
    """Three classes of 12 gray 8x8 PNGs each in DIR/<class>/ (the seeded split applies)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("gray")
    bunch = load_digits()
    for cls in range(3):
        (root / str(cls)).mkdir()
        images = bunch.images[bunch.target == cls][:12]
        for i, image in enumerate(images):
            Image.fromarray((image * 15).astype(np.uint8), mode="L").save(root / str(cls) / f"{i}.png")
    return root


@pytest.fixture()
def user_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The user's model file, the 1-channel checkpoint of ``make`` and an empty out folder."""
    import importlib.util

    source = tmp_path / "graynet.py"
    source.write_text(GRAY_NET)
    spec = importlib.util.spec_from_file_location("graynet", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    weights = tmp_path / "graynet.pt"
    torch.save(module.make(num_classes=3).state_dict(), weights)
    out = tmp_path / "out"
    out.mkdir()  # empty: a folder holding the user's files is refused before the data (tests/test_manifest.py)
    return source, weights, out


def _plan_args(source: Path, weights: Path, data: Path, out: Path, factory: str = "make") -> list:
    return ["plan", "--model", f"{source}:{factory}", "--checkpoint", weights, "--data", f"imagefolder:{data}",
            "--macs", "0.5", "--method", "uniform", "--out", out]  # fmt: skip


def test_gray_folder_for_a_one_channel_model_hints_channels(gray_folder, user_files, capsys) -> None:
    """B: the folder is read as RGB (like ImageFolder); a model taking 1 channel is told to pass --channels 1."""
    source, weights, out = user_files
    before = snapshot(out)
    result = run_main(capsys, *_plan_args(source, weights, gray_folder, out))
    line = error_line(result, 2, "(2, 3, 8, 8)", "the model takes 1 input channel(s)", "pass --channels 1")
    assert "ImageFolder" in line
    assert snapshot(out) == before


def test_one_channel_checkpoint_on_a_factory_hints_channels(gray_folder, user_files, capsys) -> None:
    """B: a factory taking in_channels builds a 3-channel model from the RGB folder; the user's 1-channel weights
    are then named as the cause, with the flag, not as a shape mismatch."""
    source, weights, out = user_files
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(GRAY_NET, str(source), "exec"), namespace)  # the user's own file, as they would run it
    torch.save(namespace["make_any"](num_classes=3, in_channels=1).state_dict(), weights)
    before = snapshot(out)
    result = run_main(capsys, *_plan_args(source, weights, gray_folder, out, "make_any"))
    error_line(result, 2, str(weights), "trained on 1-channel inputs", "gives 3", "pass --channels 1")
    assert snapshot(out) == before


def test_channels_1_still_works(gray_folder, user_files, capsys) -> None:
    """B: --channels 1 reads the gray values (transforms.Grayscale(1)), as tests/byo and examples/byo rely on."""
    source, weights, out = user_files
    result = run_main(capsys, *_plan_args(source, weights, gray_folder, out / "plan"), "--channels", "1")
    assert result.code == 0, result.err
    plan = json.loads((out / "plan" / "plan.json").read_text())
    assert plan["input_shape"] == [1, 1, 8, 8] and plan["data"]["preprocessing"]["channels"] == 1


@pytest.mark.parametrize(
    ("edit", "field", "detail"),
    [
        (lambda p: p["groups"][0].update(round_to=0), "groups[0].round_to", "must be in 1..1024"),
        (lambda p: p["groups"][0].update(round_to=True), "groups[0].round_to", "must be an integer"),
        (lambda p: p.update(planning={"finer": {"head": -8}}), "planning.finer.head", "must be in 1..1024"),
    ],
    ids=["zero", "bool", "negative-finer"],
)
def test_bad_rounding_step_in_plan_is_refused(model_files, tmp_path: Path, capsys, edit, field, detail) -> None:
    """6: the per-group step a narrow group falls back to is checked like every field of plan.json."""
    weights, plan, _ = model_files
    doc = json.loads(plan.read_text())
    edit(doc)
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(doc))
    before = snapshot(tmp_path)
    args = ["prune", "--plan", bad, "--checkpoint", weights, "--data", "digits", "--out", tmp_path / "pruned"]
    error_line(run_main(capsys, *args), 2, str(bad), f"field '{field}'", detail)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("edit", "field", "detail"),
    [
        (lambda p: p.update(planning={"ratios": {"stem.0": -0.4}}), "planning.ratios.stem.0", "must be in [0, 1)"),
        (lambda p: p.update(ignored_layers=["head"]), "ignored_layers", "is not a field of a plan"),
        (lambda p: p["groups"][0].update(keep_all=True), "groups[0].keep_all", "is not a field of groups[0]"),
        (lambda p: p.update(input_shape=[1, -1, 8, 8]), "input_shape[1]", "must be in 1.."),
        (lambda p: p.update(planning={"budget": {"kind": "macs", "fraction": 1.5}}), "planning.budget.fraction",
         "must be in (0, 1]"),
    ],
    ids=["negative-ratio", "unknown-field", "unknown-group-field", "negative-shape", "budget-above-1"],
)  # fmt: skip
def test_plan_schema_refuses_every_bad_field(model_files, tmp_path: Path, capsys, edit, field, detail) -> None:
    """7: a plan.json with a negative value in planning.ratios was accepted and did nothing."""
    weights, plan, _ = model_files
    doc = json.loads(plan.read_text())
    edit(doc)
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "pruned"
    args = ["prune", "--plan", bad, "--checkpoint", weights, "--data", "digits", "--out", out]
    error_line(run_main(capsys, *args), 2, str(bad), f"field '{field}'", detail)
    assert not out.exists()


def test_nan_in_plan_json_is_not_json(model_files, tmp_path: Path, capsys) -> None:
    """7: strict JSON on read too (Python's json accepts NaN, RFC 8259 does not)."""
    weights, plan, _ = model_files
    bad = tmp_path / "plan.json"
    bad.write_text(plan.read_text().replace('"round_to": 4', '"round_to": NaN'))
    args = ["prune", "--plan", bad, "--checkpoint", weights, "--data", "digits", "--out", tmp_path / "o"]
    error_line(run_main(capsys, *args), 2, str(bad), "is not valid JSON", "NaN")


class Evil:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_pickled_checkpoint_refused_without_torchs_warnings(model_files, tmp_path: Path) -> None:
    """7: a raw pickle (protocol 4) made torch's weights-only unpickler print a two-line UserWarning before
    edgeprune's refusal; a fresh process shows only the refusal."""
    _, plan, _ = model_files
    evil = tmp_path / "weights.pt"
    evil.write_bytes(pickle.dumps({"w": Evil()}, protocol=4))
    before = snapshot(tmp_path)
    result = run_cli("prune", "--plan", plan, "--checkpoint", evil, "--data", "digits", "--out", tmp_path / "o")
    error_line(result, 2, str(evil), "never unpickles")
    assert "Warning" not in result.err and "unpickled" not in result.out + result.err
    assert snapshot(tmp_path) == before


def test_a_label_beyond_the_checkpoints_classes_blames_the_labels(tmp_path: Path, capsys) -> None:
    """7: a label 10 with a num_classes factory and a 10-class checkpoint was blamed on the checkpoint."""
    bunch = load_digits()
    y = bunch.target.copy()
    y[7] = 10
    data = tmp_path / "d.npz"
    np.savez(data, x=bunch.images.astype(np.float32) / 16, y=y)
    source = tmp_path / "net.py"
    source.write_text(GRAY_NET)
    namespace: dict = {}
    exec(compile(GRAY_NET, str(source), "exec"), namespace)
    weights = tmp_path / "ten.pt"
    torch.save(namespace["make"](num_classes=10).state_dict(), weights)
    before = snapshot(tmp_path)
    args = ["plan", "--model", f"{source}:make", "--checkpoint", weights, "--data", f"npz:{data}",
            "--out", tmp_path / "p"]  # fmt: skip
    line = error_line(run_main(capsys, *args), 2, "has labels up to 10", "entry 7 of field 'y'", "0..9")
    assert "trained for 10 classes" in line
    assert snapshot(tmp_path) == before


def test_make_deploy_refusal_says_how_to_force_through_make(model_files, tmp_path: Path, capsys, monkeypatch) -> None:
    """7: `make deploy TARGET=tflite` run twice stopped with 'pass --force', which make had no way to pass."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}\n")
    before = snapshot(out)
    monkeypatch.setenv("EDGEPRUNE_MAKE_FORCE", "make deploy TARGET=tflite FORCE=1")
    result = run_main(capsys, "deploy", "--target", "tflite", "--out", out)
    error_line(result, 2, "--force", "(from make: make deploy TARGET=tflite FORCE=1)")
    assert snapshot(out) == before


def test_makefile_passes_force() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[2]
    run = lambda *a: subprocess.run(["make", "-n", *a], cwd=root, capture_output=True, text=True).stdout  # noqa: E731
    forced, plain = run("deploy", "TARGET=onnx", "FORCE=1"), run("deploy", "TARGET=onnx")
    assert (
        "deploy --target onnx --force" in forced and 'EDGEPRUNE_MAKE_FORCE="make deploy TARGET=onnx FORCE=1"' in plain
    )
    assert "--force" not in plain.replace("FORCE=1", "")


def test_quiet_prints_no_epoch_lines(model_files, tmp_path: Path, capsys, monkeypatch) -> None:
    """7: --quiet still printed a line per fine-tune epoch; without it a log shows them (stderr is no terminal)."""
    monkeypatch.delenv("EDGEPRUNE_NO_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    _, _, pruned = model_files
    args = ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits", "--epochs", "2"]
    loud = run_main(capsys, *args, "--out", tmp_path / "loud")
    quiet = run_main(capsys, *args, "--quiet", "--out", tmp_path / "quiet")
    assert loud.code == quiet.code == 0, loud.err + quiet.err
    assert "epoch 1/2 select" in loud.err and "epoch 2/2 select" in loud.err
    assert "epoch" not in quiet.err and quiet.err.strip() == ""


def _strict(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_result_json_is_strict_after_a_resume(model_files, tmp_path: Path, capsys) -> None:
    """7: result.json after a resume held NaN (the starting score was not in the checkpoint)."""
    _, _, pruned = model_files
    run = tmp_path / "run"
    args = ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits", "--epochs", "1", "--out", run]
    assert run_main(capsys, *args).code == 0
    first = _strict(run / "result.json")
    assert run_main(capsys, *args, "--resume").code == 0
    resumed = _strict(run / "result.json")
    assert resumed["resumed_from"] and resumed["start_select_metric"] == first["start_select_metric"] is not None
    summary = _strict(run / "finetune.json")
    assert summary["start_select_metric"] == first["start_select_metric"]
