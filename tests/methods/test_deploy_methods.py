"""Deploy with the methods of issue 15: connection pruning after the channels (sparse TFLite), and pruning before
training; their TOML/flag fields fail early with the field named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.errors import ConfigError
from edgeprune.pipeline import DeployRequest, deploy
from edgeprune.pipeline.overrides import apply_overrides
from edgeprune.pipeline.targets import load_target
from edgeprune.report import DeployReport
from tiny_target import tiny_target


def _deploy(tmp_path: Path, prune: str) -> DeployReport:
    (tmp_path / "t.toml").write_text(tiny_target("methods", prune=prune, warmup=3, runs=10))
    out = tmp_path / "out"
    report = deploy(DeployRequest(target=load_target(str(tmp_path / "t.toml")), out=str(out)))
    assert DeployReport.from_dict(json.loads((out / "report.json").read_text())).to_dict() == report.to_dict()
    return report


def test_deploy_prunes_channels_then_connections_and_stores_them_sparse(tmp_path: Path) -> None:
    report = _deploy(tmp_path, "sparsity = 0.8")
    links = report.prune.connections
    assert links is not None and links.pattern == "unstructured" and links.target == 0.8
    assert links.reached == pytest.approx(0.8, abs=0.01) and 0.3 < links.all_weights <= links.reached
    assert report.pruned.macs <= 0.5 * report.baseline.macs and report.pruned.metric > 80.0
    art = report.artifacts[0].artifact
    meta = json.loads(Path(art.metadata_path).read_text())
    assert meta["options"]["sparse"] is True and meta["options"]["sparse_weights"]["encoded"]
    assert art.parity.rel_err <= 1e-4
    reference = report.baseline_artifact.artifact  # dense, unpruned fp32
    assert art.gzip_size_bytes < 0.4 * reference.gzip_size_bytes
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Connections: unstructured to 80% zeros per layer" in text


def test_deploy_prunes_before_training_for_the_same_total_epochs(tmp_path: Path) -> None:
    report = _deploy(tmp_path, 'when = "before"')
    assert report.prune.when == "before" and report.prune.details["init_score"] == "snip"
    assert report.finetune.epochs == 8 + 3 and report.finetune.distill is False
    assert 0.45 <= report.pruned.macs / report.baseline.macs <= 0.5
    assert report.pruned.metric > 80.0  # trained from scratch on digits (chance: 10%)
    assert "Training from scratch: 11 epoch(s)" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"when": "during"}, r"prune\.when: must be one of \['after', 'before'\]"),
        ({"sparsity": 1.5}, r"prune\.sparsity: must be in \[0, 1\)"),
        ({"pattern": "3:2"}, r"prune\.pattern"),
        ({"pattern": "2:4", "sparsity": 0.8}, r"prune\.sparsity 0\.8 does not match prune\.pattern '2:4'"),
        ({"when": "before", "method": "sensitivity"}, r"prune\.when 'before' .* prune\.method 'sensitivity'"),
        ({"when": "before", "params": 0.5}, r"prune\.when 'before' budgets MACs only"),
    ],
)
def test_bad_method_fields_are_named(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_target("tflite"), **changes)


def test_cli_bad_pattern_is_one_line_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "edgeprune", "deploy", "--target", "tflite", "--pattern", "5x", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "prune.pattern" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written
