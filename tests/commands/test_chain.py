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
