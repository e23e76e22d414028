"""Sensitivity scans: curves per group (residual groups whole), blocks, estimate agreement, cache, samples."""

from __future__ import annotations

import json

import torch

from edgeprune.prune import keep_count
from edgeprune.sensitivity import Sensitivity, sensitivity
from edgeprune.sensitivity.cache import cache_key
from edgeprune.sensitivity.plot import plot_sensitivity
from edgeprune.sensitivity.samples import choosing_samples


def test_scan_measures_every_group_and_block(tiny, digits, tmp_path) -> None:
    res = sensitivity(tiny, digits, samples=100, ratios=(0.5, 0.75), cache_dir=tmp_path)
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
    assert 0.0 <= res.base.metric <= 100.0 and res.samples == 100
    assert res.estimate["measured"] and -1.0 <= res.estimate["spearman_loss"] <= 1.0


def test_cache_hits_and_keys_follow_weights(tiny, digits, tmp_path) -> None:
    first = sensitivity(tiny, digits, samples=100, ratios=(0.5,), blocks=False, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and files[0].stem == first.key
    again = sensitivity(tiny, digits, samples=100, ratios=(0.5,), blocks=False, cache_dir=tmp_path)
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


def test_estimate_only_skips_measurement(tiny, digits) -> None:
    res = sensitivity(tiny, digits, samples=64, ratios=(0.5,), measure=False, cache_dir=None)
    assert not res.estimate["measured"]
    assert all(p.metric == res.base.metric for g in res.groups for p in g.points)
    assert any(p.loss > res.base.loss for g in res.groups for p in g.points)


def test_choosing_samples_never_touch_validation(digits) -> None:
    x, y = choosing_samples(digits, len(digits.x_select) + 5)
    assert torch.equal(x[: len(digits.x_select)], digits.x_select)
    assert torch.equal(x[-5:], digits.x_train[:5]) and len(y) == len(x)


def test_json_round_trip_and_plot(tiny, digits, tmp_path) -> None:
    res = sensitivity(tiny, digits, samples=64, ratios=(0.5,), cache_dir=None)
    res.save(tmp_path / "s.json")
    loaded = Sensitivity.load(tmp_path / "s.json")
    assert loaded.to_dict() == json.loads((tmp_path / "s.json").read_text())
    assert loaded.ranking()[0][1] >= loaded.ranking()[-1][1]
    png = plot_sensitivity(loaded, tmp_path / "s.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
