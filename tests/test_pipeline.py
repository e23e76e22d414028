"""End to end: the deploy chain on a tiny setting (digits, few epochs), and the CLI's user errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.pipeline import DeployRequest, deploy
from edgeprune.pipeline.targets import load_target
from edgeprune.report import DeployReport
from tiny_target import tiny_target


@pytest.mark.parametrize(
    ("fmt", "runtime", "precision", "method"),
    [
        ("tflite", "litert", "fp32", "uniform"),
        ("onnx", "onnxruntime", "fp32", "sensitivity"),
        ("tflite", "litert", "int8", "uniform"),
    ],
)
def test_deploy_tiny_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt, runtime, precision, method):
    monkeypatch.chdir(tmp_path)
    export = f'format = "{fmt}"\nprecision = "{precision}"\ncalibration_samples = 100'
    (tmp_path / "t.toml").write_text(tiny_target(prune=f'method = "{method}"', export=export))
    out = tmp_path / "out"
    report = deploy(DeployRequest(target=load_target(str(tmp_path / "t.toml")), out=str(out)))
    on_disk = json.loads((out / "report.json").read_text())
    assert DeployReport.from_dict(on_disk).to_dict() == report.to_dict()  # the record round-trips
    assert report.target == "tiny" and (out / "report.md").is_file()
    assert "data:image/png;base64," in (out / "report.html").read_text()  # the plots are embedded
    assert (report.sensitivity is not None) == (method == "sensitivity")  # the scan the plan came from
    # the budget is honoured: never above, and within 5% below where widths allow (round_to 1 here)
    assert 0.95 * 0.5 <= report.pruned.macs / report.baseline.macs <= 0.5
    assert report.prune.reached == pytest.approx(report.pruned.macs / report.baseline.macs, abs=1e-6)
    assert report.pruned.params < report.baseline.params and report.prune.method == method
    assert report.baseline.metric > 80.0 and report.prune.predicted_metric is not None
    assert report.data.preprocessing["source"] == "builtin:digits" and report.task.metric == "top1"
    art = report.artifacts[0].artifact
    assert Path(art.path).is_file() and art.runtime == runtime and art.precision == precision
    meta = json.loads(Path(art.metadata_path).read_text())
    assert meta["precision"] == precision and meta["preprocessing"]["mean"] == report.data.preprocessing["mean"]
    assert [t.artifact.precision for t in report.unpruned_artifacts] == ([] if precision == "fp32" else [precision])
    if precision == "fp32":
        assert len(report.artifacts) == 1 and art.parity.rel_err <= 1e-4 and art.parity.bound == 1e-4
        assert abs(art.metric - report.pruned.metric) <= 0.5
    else:  # int8 comes with the pruned fp32 artifact, timed in the same run
        assert [t.artifact.precision for t in report.artifacts] == ["int8", "fp32"]
        assert art.int8["passed"] and art.int8["top1_agreement"] >= 97.0 and art.int8["accuracy_drop"] <= 1.0
        assert art.size_bytes < 0.5 * report.artifacts[1].artifact.size_bytes
    for t in report.all_artifacts:
        assert t.latency.p50 > 0 and t.latency.count == 30 and t.speedup > 0
    assert report.baseline_artifact.speedup == pytest.approx(1.0)
    assert report.bench.threads == 1 and report.bench.interleaved is True
    # the saved pruned model (plan + safetensors) replays to the same metric
    from edgeprune.data import load_data
    from edgeprune.prune import load_pruned
    from edgeprune.task import evaluate

    model, plan = load_pruned(report.prune.model_dir)
    assert evaluate(model, load_data("digits").val)[0] == pytest.approx(report.pruned.metric)
    assert plan.groups and plan.model["spec"] == "edgeprune:default"
    # the trained baseline is cached in $EDGEPRUNE_CACHE, not under the working directory
    assert list((Path(os.environ["EDGEPRUNE_CACHE"]) / "baselines").glob("*.safetensors"))
    assert not (tmp_path / "build" / "models").exists()


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeprune", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_cli_unknown_target_lists_known():
    proc = _cli("deploy", "--target", "nope")
    assert proc.returncode == 2
    assert "unknown target 'nope'; known targets:" in proc.stderr and "tflite" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_bad_model_spec_names_part():
    proc = _cli("deploy", "--target", "tflite", "--model", "torchvision:resnet19", "--data", "synthetic:3x32x32")
    assert proc.returncode == 2
    assert "torchvision has no classification model 'resnet19'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_data_spec_names_part():
    proc = _cli("deploy", "--target", "tflite", "--data", "cifar")
    assert proc.returncode == 2 and "unknown data spec 'cifar'" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_model_data_mismatch_is_named():
    proc = _cli("deploy", "--target", "tflite", "--model", "torchvision:mobilenet_v3_small", "--data", "digits")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot run on samples of data 'digits' with shape (2, 1, 8, 8)" in proc.stderr


def test_cli_wrong_flag_is_one_line():
    proc = _cli("deploy", "--target", "tflite", "--macz", "0.3")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "unrecognized arguments: --macz 0.3" in proc.stderr
