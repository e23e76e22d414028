"""plan -> prune -> export from the command line, no fine-tune in between (ONNX and TFLite, parity checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeprune.commands.main import main


@pytest.fixture(scope="module")
def pruned_dir(tmp_path_factory, digits) -> tuple[Path, Path]:
    import torch

    from edgeprune.models import ModelSpec, build_model, save_weights

    root = tmp_path_factory.mktemp("chain")
    torch.manual_seed(0)
    weights = root / "m.safetensors"
    save_weights(build_model(ModelSpec("edgeprune:default")), weights)
    common = ["--checkpoint", str(weights), "--data", "digits"]
    untrained = ["--allow-chance-baseline"]  # seeded untrained weights score chance on digits
    assert main(["plan", *common, *untrained, "--macs", "0.5", "--method", "uniform", "--out", str(root / "plan")]) == 0
    plan = json.loads((root / "plan" / "plan.json").read_text())
    assert plan["planning"]["budget"] == {"kind": "macs", "fraction": 0.5}
    assert 0.475 <= plan["planning"]["macs_fraction"] <= 0.5
    assert main(["prune", "--plan", str(root / "plan" / "plan.json"), *common, "--out", str(root / "pruned")]) == 0
    assert {p.name for p in (root / "pruned").iterdir()} == {
        "plan.json",
        "weights.safetensors",
        ".edgeprune-manifest.json",
    }
    return root, root / "pruned"


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_plan_prune_export_without_finetune(pruned_dir, fmt: str) -> None:
    root, pruned = pruned_dir
    out = root / f"export-{fmt}"
    assert main(["export", "--pruned", str(pruned), "--data", "digits", "--format", fmt, "--out", str(out)]) == 0
    artifact = out / f"pruned_fp32.{fmt}"
    meta = json.loads(Path(f"{artifact}.json").read_text())
    assert artifact.is_file() and meta["verification"]["rel_err"] <= 1e-4 and meta["source"]["plan_hash"]
    assert meta["preprocessing"]["source"] == "builtin:digits"
    # nothing is replaced without --force
    assert main(["export", "--pruned", str(pruned), "--data", "digits", "--format", fmt, "--out", str(out)]) == 2


def test_prune_refuses_to_overwrite(pruned_dir, capsys) -> None:
    root, pruned = pruned_dir
    args = ["prune", "--plan", str(root / "plan" / "plan.json"), "--checkpoint", str(root / "m.safetensors")]
    assert main([*args, "--data", "digits", "--out", str(pruned)]) == 2
    assert f"--out {pruned} already holds results of edgeprune" in capsys.readouterr().err
    args[2] = str(pruned / "plan.json")  # the plan inside the folder it would replace: refused even with --force
    assert main([*args, "--data", "digits", "--out", str(pruned), "--force"]) == 2
    assert f"--out {pruned} is the folder of the input --plan" in capsys.readouterr().err


def test_prune_reproduces_the_plans_prediction(pruned_dir, capsys) -> None:
    # plan and prune re-estimate BatchNorm on the same train samples and score the same select samples, so the
    # pruned model's select metric is the plan's prediction (a different BN step here once cost the plan 88 pt)
    root, _ = pruned_dir
    plan = json.loads((root / "plan" / "plan.json").read_text())
    predicted = plan["planning"]["predicted_metric"]
    args = ["prune", "--plan", str(root / "plan" / "plan.json"), "--checkpoint", str(root / "m.safetensors")]
    capsys.readouterr()
    assert main([*args, "--data", "digits", "--out", str(root / "pruned-again")]) == 0
    out = capsys.readouterr().out
    reported = float(re.search(r"select top1 ([0-9.]+)% before fine-tuning", out).group(1))
    assert predicted is not None and reported == pytest.approx(predicted, abs=0.01)


def test_plan_records_its_data(pruned_dir) -> None:
    root, pruned = pruned_dir
    for path in (root / "plan" / "plan.json", pruned / "plan.json"):
        assert json.loads(path.read_text())["data"] == {"spec": "digits", "preprocessing": None}


def test_export_without_data_runs_on_the_recorded_data(pruned_dir, capsys) -> None:
    """`export --pruned DIR` without --data fell back to mnist5k and failed after the model was rebuilt."""
    root, pruned = pruned_dir
    out = root / "export-recorded"
    capsys.readouterr()
    assert main(["export", "--pruned", str(pruned), "--format", "onnx", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"data: digits (recorded in {pruned / 'plan.json'}; --data overrides)" in said
    meta = json.loads((out / "pruned_fp32.onnx.json").read_text())
    assert meta["preprocessing"]["source"] == "builtin:digits" and meta["verification"]["rel_err"] <= 1e-4


def test_prune_without_data_runs_on_the_plans_data(pruned_dir) -> None:
    root, _ = pruned_dir
    args = ["prune", "--plan", str(root / "plan" / "plan.json"), "--checkpoint", str(root / "m.safetensors")]
    assert main([*args, "--out", str(root / "pruned-recorded")]) == 0
    assert json.loads((root / "pruned-recorded" / "plan.json").read_text())["data"]["spec"] == "digits"


def test_recorded_user_code_is_never_run(pruned_dir, tmp_path, capsys) -> None:
    """A plan naming a data factory (code) is replayed on it only when the user names it with --data."""
    _, pruned = pruned_dir
    marker = tmp_path / "ran"
    factory = tmp_path / "evil.py"
    factory.write_text(f"open({str(marker)!r}, 'w').close()\n\ndef make():\n    raise SystemExit\n")
    doc = json.loads((pruned / "plan.json").read_text())
    doc["data"] = {"spec": f"{factory}:make", "preprocessing": None}
    copy = tmp_path / "pruned"
    copy.mkdir()
    (copy / "plan.json").write_text(json.dumps(doc))
    (copy / "weights.safetensors").write_bytes((pruned / "weights.safetensors").read_bytes())
    capsys.readouterr()
    assert main(["export", "--pruned", str(copy), "--format", "onnx", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "field 'data.spec' names user code" in err and f"pass --data {factory}:make" in err
    assert not marker.exists()


def test_a_plan_without_data_names_the_flag(pruned_dir, tmp_path, capsys) -> None:
    """An older plan records no data: a shape mismatch says to pass the data it was planned on."""
    _, pruned = pruned_dir
    doc = json.loads((pruned / "plan.json").read_text())
    doc.pop("data")
    copy = tmp_path / "old"
    copy.mkdir()
    (copy / "plan.json").write_text(json.dumps(doc))
    (copy / "weights.safetensors").write_bytes((pruned / "weights.safetensors").read_bytes())
    capsys.readouterr()
    assert main(["export", "--pruned", str(copy), "--format", "onnx", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "was planned for inputs [1, 8, 8], data 'mnist5k' has [1, 28, 28]; pass the --data it was planned on" in err


def test_data_paths_are_recorded_absolute(tmp_path, monkeypatch) -> None:
    from edgeprune.data.spec import data_record, is_user_code

    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    assert data_record("npz:d.npz", None)["spec"] == f"npz:{tmp_path / 'd.npz'}"
    assert data_record("imgs", None)["spec"] == str(tmp_path / "imgs")
    assert data_record("synthetic:3x8x8:50", None)["spec"] == "synthetic:3x8x8:50"
    assert is_user_code("my_data.py:make") and is_user_code("pkg.mod:make") and not is_user_code("npz:x.npz")


def test_prune_without_checkpoint_uses_the_plans_weights(pruned_dir, capsys) -> None:
    """The plan records the unpruned checkpoint it was made on; prune replays the plan on those same weights."""
    from edgeprune.models import read_state_dict

    root, pruned = pruned_dir
    plan = root / "plan" / "plan.json"
    weights = (root / "m.safetensors").resolve()
    assert json.loads(plan.read_text())["baseline"] == {"checkpoint": str(weights), "train_epochs": None}
    capsys.readouterr()
    assert main(["prune", "--plan", str(plan), "--out", str(root / "pruned-chained")]) == 0
    assert f"checkpoint: {weights} (recorded in {plan}; --checkpoint overrides)" in capsys.readouterr().out
    again, first = (
        read_state_dict(root / "pruned-chained" / "weights.safetensors"),
        read_state_dict(pruned / "weights.safetensors"),
    )
    assert again.keys() == first.keys() and all(again[k].equal(first[k]) for k in first)


def test_a_trained_baseline_is_reused_downstream(tmp_path, capsys) -> None:
    """`plan --train-epochs 1` then `prune`: the same cached baseline, not a new one trained for the default 12."""
    plan = tmp_path / "p" / "plan.json"
    args = ["plan", "--data", "digits", "--train-epochs", "1", "--macs", "0.6", "--method", "uniform"]
    assert main([*args, "--out", str(tmp_path / "p")]) == 0
    assert json.loads(plan.read_text())["baseline"] == {"checkpoint": None, "train_epochs": 1}
    capsys.readouterr()
    assert main(["prune", "--plan", str(plan), "--out", str(tmp_path / "pr")]) == 0
    out = capsys.readouterr().out
    assert "baseline loaded from cache" in out and "trained and cached" not in out
