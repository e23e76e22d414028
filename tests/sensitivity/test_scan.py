"""Sensitivity scans: curves per group (residual groups whole), blocks, estimate agreement, cache, task metric."""

from __future__ import annotations

import json

import pytest
import torch

from edgeprune.data import choosing_samples, take
from edgeprune.prune import keep_count
from edgeprune.sensitivity import ScanOptions, Sensitivity, sensitivity
from edgeprune.sensitivity.cache import cache_key
from edgeprune.sensitivity.plot import plot_sensitivity


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "sensitivity"


def test_scan_measures_every_group_and_block(tiny, digits, cache) -> None:
    res = sensitivity(tiny, digits, ScanOptions(samples=100, ratios=(0.5, 0.75)))
    roots = [g.root for g in res.groups]
    assert roots == ["stem.0", "down1.0", "block1.body.0.0", "down2.0", "block2.body.0.0", "block3.body.0", "hidden"]
    assert [b.path for b in res.blocks] == ["block1", "block2", "block3"]
    for g in res.groups:
        assert [p.ratio for p in g.points] == [0.5, 0.75]
        assert [p.keep for p in g.points] == [keep_count(g.width, g.channel_groups, r, 1) for r in res.ratios]
        assert all(p.macs <= res.base.macs for p in g.points)
    residual = res.group("down1.0")
    assert "residual add" in residual.coupling and "block1.body.1" in residual.members
    # pruning the whole residual group really removes MACs (one conv alone would prune nothing)
    assert residual.points[0].macs < 0.8 * res.base.macs
    assert all(b.point.macs < res.base.macs for b in res.blocks)
    assert 0.0 <= res.base.metric <= 100.0 and res.samples == 100 and res.importance == "magnitude"
    assert res.estimate["measured"] and -1.0 <= res.estimate["spearman_loss"] <= 1.0


def test_cache_hits_and_keys_follow_weights(tiny, digits, cache) -> None:
    opts = ScanOptions(samples=100, ratios=(0.5,), blocks=False)
    first = sensitivity(tiny, digits, opts)
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and files[0].stem == first.key
    again = sensitivity(tiny, digits, opts)
    assert again.to_dict() == first.to_dict()
    settings = {"ratios": [0.5]}
    key = cache_key(tiny, digits.describe(), settings)
    with torch.no_grad():
        tiny.stem[0].weight[0, 0, 0, 0] += 1.0
    try:
        assert cache_key(tiny, digits.describe(), settings) != key
    finally:
        with torch.no_grad():
            tiny.stem[0].weight[0, 0, 0, 0] -= 1.0
    assert cache_key(tiny, digits.describe(), {"ratios": [0.4]}) != key


def test_no_cache_writes_nothing(tiny, digits, cache, monkeypatch) -> None:
    monkeypatch.setenv("EDGEPRUNE_NO_CACHE", "1")
    sensitivity(tiny, digits, ScanOptions(samples=64, ratios=(0.5,), blocks=False))
    assert not cache.exists()


def test_estimate_only_skips_measurement(tiny, digits, cache) -> None:
    res = sensitivity(tiny, digits, ScanOptions(samples=64, ratios=(0.5,), measure=False))
    assert not res.estimate["measured"]
    assert all(p.metric == res.base.metric for g in res.groups for p in g.points)
    assert any(p.loss > res.base.loss for g in res.groups for p in g.points)


def test_a_lower_is_better_metric_ranks_by_increase(tiny, digits, cache) -> None:
    """A user metric that improves downwards (an error rate): drops are increases of the metric."""
    from edgeprune.task import CLASSIFICATION, Task

    def error(out, y):
        return 100.0 - CLASSIFICATION.metric(out, y)

    task = Task("err", CLASSIFICATION.loss, error, "error", False, CLASSIFICATION.distill, "%")
    res = sensitivity(tiny, digits, ScanOptions(samples=100, ratios=(0.9,), blocks=False), task, task_key="err")
    assert res.metric_name == "error" and not res.higher_is_better
    top, drop = res.ranking()[0]
    assert drop > 0 and res.group(top).points[0].metric > res.base.metric


def test_choosing_samples_never_touch_validation(digits) -> None:
    x, y = choosing_samples(digits, len(digits.select) + 5)
    assert torch.equal(x[: len(digits.select)], take(digits.select)[0])
    assert torch.equal(x[-5:], take(digits.train, 5)[0]) and len(y) == len(x)


def test_json_round_trip_and_plot(tiny, digits, tmp_path, cache) -> None:
    res = sensitivity(tiny, digits, ScanOptions(samples=64, ratios=(0.5,)))
    res.save(tmp_path / "s.json")
    loaded = Sensitivity.load(tmp_path / "s.json")
    assert loaded.to_dict() == json.loads((tmp_path / "s.json").read_text())
    assert loaded.ranking()[0][1] >= loaded.ranking()[-1][1]
    png = plot_sensitivity(loaded, tmp_path / "s.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
