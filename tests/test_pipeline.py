"""End to end: the deploy chain on a tiny setting (digits, few epochs), and the CLI's user errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.config import load_target
from edgeprune.pipeline import DeployRequest, deploy

TINY_TARGET = """
name = "tiny"
[model]
spec = "edgeprune:default"
data = "digits"
train_epochs = 8
[prune]
macs = 0.5
method = "{method}"
[finetune]
epochs = 3
[export]
format = "{fmt}"
precision = "{precision}"
calibration_samples = 100
[bench]
runtime = "{runtime}"
warmup = 5
runs = 30
"""


@pytest.mark.parametrize(
    ("fmt", "runtime", "precision", "method"),
    [
        ("tflite", "litert", "fp32", "uniform"),
        ("onnx", "onnxruntime", "fp32", "sensitivity"),
        ("tflite", "litert", "int8", "uniform"),
    ],
)
def test_deploy_tiny_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, runtime: str, precision: str, method: str
):
    monkeypatch.chdir(tmp_path)
    target = TINY_TARGET.format(fmt=fmt, runtime=runtime, precision=precision, method=method)
    (tmp_path / "t.toml").write_text(target)
    report = deploy(DeployRequest(target=load_target(str(tmp_path / "t.toml")), out=str(tmp_path / "out")))
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["target"] == "tiny" and (tmp_path / "out" / "report.md").is_file()
    assert report["pruned"]["macs"] <= 0.5 * report["baseline"]["macs"]
    assert report["pruned"]["params"] < report["baseline"]["params"]
    assert report["prune"]["method"] == method
    if method == "sensitivity":  # the planner's record: exact MACs and its predicted drop
        assert report["prune"]["details"]["macs"] == report["pruned"]["macs"]
        assert "metric_drop" in report["prune"]["details"]["predicted"]
    assert report["baseline"]["accuracy"] > 80.0
    art = report["artifacts"][0]
    assert Path(art["path"]).is_file() and art["runtime"] == runtime and art["precision"] == precision
    assert json.loads(Path(art["metadata"]).read_text())["precision"] == precision
    if precision == "fp32":
        assert len(report["artifacts"]) == 1 and art["parity_rel_err"] <= 1e-4
        assert abs(art["accuracy"] - report["pruned"]["accuracy"]) <= 0.5
    else:  # int8 comes with the pruned fp32 artifact, timed in the same run
        assert [a["precision"] for a in report["artifacts"]] == ["int8", "fp32"]
        int8 = art["verification"]["int8"]
        assert int8["passed"] and int8["top1_agreement"] >= 97.0 and int8["accuracy_drop"] <= 1.0
        assert art["size_bytes"] < 0.5 * report["artifacts"][1]["size_bytes"]
    for a in report["artifacts"]:
        assert a["latency_ms"]["p50"] > 0 and a["latency_ms"]["count"] == 30 and a["speedup_vs_baseline"] > 0
    assert report["baseline_latency"]["latency_ms"]["p50"] > 0
    assert report["bench"]["threads"] == 1 and report["bench"]["interleaved"] is True
    # the saved pruned model (plan + safetensors) replays to the same accuracy
    from edgeprune.data import load_dataset
    from edgeprune.finetune import evaluate
    from edgeprune.prune import load_pruned

    model, plan = load_pruned(report["prune"]["model_dir"])
    data = load_dataset("digits")
    assert evaluate(model, data.x_val, data.y_val)[0] == pytest.approx(report["pruned"]["accuracy"])
    assert plan.groups and plan.model["spec"] == "edgeprune:default"
    # the trained baseline is cached and reused
    assert list((tmp_path / "build" / "models").glob("*.safetensors"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprune.cli", *args], capture_output=True, text=True, check=False)


def test_cli_unknown_target_lists_known():
    proc = _cli("deploy", "--target", "nope")
    assert proc.returncode == 2
    assert "unknown target 'nope'; known targets:" in proc.stderr and "tflite" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_model_spec_names_part():
    proc = _cli("deploy", "--target", "tflite", "--model", "torchvision:resnet19", "--data", "synthetic:3x32x32")
    assert proc.returncode == 2
    assert "torchvision has no classification model 'resnet19'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_data_spec_names_part():
    proc = _cli("deploy", "--target", "tflite", "--data", "cifar")
    assert proc.returncode == 2 and "'cifar' is not one of" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_model_data_mismatch_is_named():
    proc = _cli("deploy", "--target", "tflite", "--model", "torchvision:mobilenet_v3_small", "--data", "digits")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot run on samples of data 'digits' with shape (1, 1, 8, 8)" in proc.stderr
