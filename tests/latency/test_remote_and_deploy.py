"""Tables measured on a board over SSH (a real sshd on loopback), and the deploy adapter's target mapping."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from edgeprune.bench.remote import SshRunner
from edgeprune.config import BenchConfig, ExportConfig, Target
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.table import build_tables
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.pipeline.latency_budget import latency_target_for


@pytest.mark.slow
def test_tables_measured_on_a_remote_board_are_cached_under_its_fingerprint(sshd, tmp_path) -> None:
    board = SshRunner(
        host=sshd.host, port=sshd.port, user=sshd.user, key_file=sshd.key_file, python=sys.executable,
        workdir=str(sshd.folder / "board"), known_hosts=sshd.known_hosts,
    )  # fmt: skip
    target = LatencyTarget("litert", remote=board, warmup=2, runs=10, repeats=1)
    assert target.fingerprint()["machine"].startswith(f"ssh:{sshd.user}@127.0.0.1:{sshd.port}")
    assert target.fingerprint_key() != LatencyTarget("litert").fingerprint_key()
    net = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.Conv2d(32, 10, 1)).eval()
    x = torch.randn(1, 3, 12, 12)
    units = find_units(net, x, prunable_groups(net, x))
    cache = LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    tables = build_tables(net, units, target, round_to=16, max_ratio=0.6, cache=cache, levels=0)
    assert tables.stats.measured == tables.stats.micro_models > 0
    assert all(v > 0 for t in tables.tables.values() for v in t.values.values())
    again = build_tables(net, units, target, round_to=16, max_ratio=0.6, cache=cache, levels=0)
    assert again.stats.measured == 0
    assert list((sshd.folder / "board").iterdir()) == []  # every staged folder was removed


def test_deploy_target_maps_to_a_latency_target() -> None:
    t = Target("t", export=ExportConfig(format="onnx"), bench=BenchConfig(threads=2, cores=(0, 1)))
    lt = latency_target_for(t)
    assert (lt.runtime, lt.threads, lt.cores, lt.precision, lt.remote) == ("onnxruntime", 2, (0, 1), "fp32", None)
    remote = Target("r", bench=BenchConfig(remote="pi@board:2222", remote_python="/usr/bin/python3"))
    board = latency_target_for(remote).remote
    assert board is not None and (board.user, board.host, board.port, board.python) == (
        "pi",
        "board",
        2222,
        "/usr/bin/python3",
    )
    fp16 = latency_target_for(Target("h", export=ExportConfig(precision="fp16"), bench=BenchConfig(xnnpack=False)))
    assert (fp16.runtime, fp16.precision, fp16.xnnpack) == ("litert", "fp16", False)
    assert fp16.fingerprint()["precision"] == "fp16" and fp16.fingerprint_key() != lt.fingerprint_key()


@pytest.mark.slow
def test_deploy_with_a_speedup_budget_reports_budget_predicted_and_measured(tmp_path, monkeypatch) -> None:
    """`speedup = 1.5` in a target: deploy plans on LiteRT-measured tables and its report shows the budget, the
    model's prediction and the measured latency (figures are benchmarks' business; here: the chain and record)."""
    import json

    from edgeprune.pipeline import DeployRequest, deploy
    from edgeprune.pipeline.targets import load_target
    from edgeprune.report import DeployReport

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.toml").write_text(
        '[model]\nspec = "edgeprune:default"\ntrain_epochs = 4\n[data]\nspec = "digits"\n'
        '[prune]\nspeedup = 1.5\nround_to = 8\n[finetune]\nepochs = 1\n[export]\nformat = "tflite"\n'
        "[bench]\nwarmup = 5\nruns = 40\n"
    )
    report = deploy(DeployRequest(load_target(str(tmp_path / "t.toml")), out=str(tmp_path / "out")))
    assert DeployReport.from_dict(json.loads((tmp_path / "out" / "report.json").read_text())) == report
    lat = report.prune.latency
    assert report.prune.budget_kind == "latency" and report.prune.budget == pytest.approx(1 / 1.5)
    assert lat is not None and lat.speedup == 1.5 and lat.latency_ms is None and lat.attempts >= 1
    assert lat.base_ms > 0 and lat.predicted_ms > 0 and lat.measured_ms > 0
    assert report.prune.reached == pytest.approx(1 / lat.measured_speedup, rel=0.01)  # measured side by side
    assert report.pruned.macs < report.baseline.macs
    assert "Latency budget 1.5x faster" in (tmp_path / "out" / "report.md").read_text()
