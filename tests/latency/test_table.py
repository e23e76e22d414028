"""Latency tables: measured on the real runtimes, cached per target, interpolated; the time budget stops refining."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.table import UnitTable, build_tables, candidate_counts, level_counts
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import Axis, Unit, find_units, prunable_groups

FAST = {"warmup": 2, "runs": 10, "repeats": 1}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32),
        nn.ReLU(),
        nn.Conv2d(32, 16, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    ).eval()


@pytest.fixture(scope="module")
def net_units():
    net, x = small_net(), torch.randn(1, 3, 16, 16)
    return net, find_units(net, x, prunable_groups(net, x))


def test_candidate_counts_follow_round_to_and_max_ratio() -> None:
    axis = Axis("g", 96, 1)
    assert candidate_counts(axis, 16, 0.9) == [16, 32, 48, 64, 80, 96]
    assert candidate_counts(axis, 16, 0.5) == [48, 64, 80, 96]
    assert candidate_counts(Axis("g", 24, 1), 16, 0.9) == [16, 24]  # full width is always a candidate
    assert level_counts(axis, 0, 8, 0.9) == [8, 48, 96]
    assert level_counts(axis, 1, 8, 0.9) == [8, 24, 48, 72, 96]
    assert level_counts(None, 1, 8, 0.9) == [None]


def test_interpolation_is_exact_on_a_bilinear_cost() -> None:
    unit = Unit("u", ("u",), (1, 64, 8, 8), (1, 64, 8, 8), Axis("a", 64, 1), Axis("b", 64, 1), False, 1)

    def cost(cin: int, cout: int) -> float:
        return 0.01 + 0.002 * cin + 0.001 * cout + 0.0003 * cin * cout

    grid = [16, 32, 64]
    table = UnitTable(unit, grid, grid, {(i, o): cost(i, o) for i in grid for o in grid})
    for cin, cout in [(16, 16), (24, 40), (48, 64), (64, 20), (8, 8)]:  # (8, 8): extrapolated below the grid
        assert table.at(cin, cout) == pytest.approx(cost(cin, cout), rel=1e-9)
    assert table.at(None, None) == pytest.approx(cost(64, 64))


@pytest.mark.parametrize("runtime", ["onnxruntime", "litert"])
def test_tables_are_measured_once_then_read_from_the_cache(net_units, tmp_path, runtime) -> None:
    net, units = net_units
    target = LatencyTarget(runtime, **FAST)
    cache = LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    first = build_tables(net, units, target, round_to=16, max_ratio=0.75, cache=cache, levels=0)
    assert first.stats.measured == first.stats.micro_models > 0 and first.stats.cached == 0
    assert first.stats.levels_done == 0 and not first.stats.estimated_units and first.null_ms > 0
    for unit in units:
        table = first.tables[unit.name]
        assert table.measured and all(v > 0 for v in table.values.values())
        assert len(table.values) == len(table.xs) * len(table.ys)
    conv = first.tables[units[0].name]  # stem: one axis (its output), 2 widths: 16, 32
    assert conv.ys == [16, 32] and conv.xs == [None]
    assert first.tables["5"].xs == [16, 32] and first.tables["5"].ys == [16]  # a 16-wide group cannot shrink
    again = LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    second = build_tables(net, units, target, round_to=16, max_ratio=0.75, cache=again, levels=0)
    assert second.stats.measured == 0 and second.stats.cached == first.stats.micro_models
    assert {n: t.values for n, t in second.tables.items()} == {n: t.values for n, t in first.tables.items()}


def test_time_budget_stops_refining_after_level_zero() -> None:
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Conv2d(64, 10, 1)).eval()
    x = torch.randn(1, 3, 8, 8)
    units = find_units(net, x, prunable_groups(net, x))
    target = LatencyTarget("onnxruntime", **FAST)
    tables = build_tables(net, units, target, round_to=16, max_ratio=0.9, levels=1, time_budget_s=0.0)
    assert tables.stats.budget_spent and tables.stats.levels_done == 0
    assert tables.tables["0"].ys == [16, 32, 64]  # level 1 would add 48
    assert tables.tables["2"].xs == [16, 32, 64] and tables.tables["2"].ys == [None]


def test_cache_files_are_checked(tmp_path) -> None:
    target = LatencyTarget("onnxruntime")
    cache = LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    cache.update({"sig": 0.5})
    assert LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key()).get("sig") == 0.5
    path = cache.path
    data = json.loads(path.read_text())
    data["fingerprint"]["version"] = "0.0"
    path.write_text(json.dumps(data))
    with pytest.raises(EdgepruneError, match=r"fingerprint"):
        LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    path.write_text(json.dumps({**data, "fingerprint": target.fingerprint(), "entries": {"sig": "fast"}}))
    with pytest.raises(EdgepruneError, match=r"entry 'sig'"):
        LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())
    path.write_text("{")
    with pytest.raises(EdgepruneError, match=str(path)):
        LatencyCache(tmp_path, target.fingerprint(), target.fingerprint_key())


def test_fingerprint_keys_what_latency_depends_on() -> None:
    a = LatencyTarget("litert", threads=1)
    assert a.fingerprint()["version"] not in ("", "missing") and a.fingerprint()["threads"] == 1
    keys = {
        a.fingerprint_key(),
        LatencyTarget("litert", threads=2).fingerprint_key(),
        LatencyTarget("onnxruntime").fingerprint_key(),
        LatencyTarget("litert", cores=(1,)).fingerprint_key(),
    }
    assert len(keys) == 4
    assert LatencyTarget("litert", runs=99).fingerprint_key() == a.fingerprint_key()  # settings, not the target
    robust = LatencyTarget("litert", statistic="min", across="min")
    assert robust.fingerprint_key() != a.fingerprint_key()
    assert robust.combine([3.0, 1.0, 2.0]) == 1.0 and a.combine([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(EdgepruneError, match="runtime 'tvm'"):
        LatencyTarget("tvm")


def test_units_without_a_table_are_estimated_from_the_measured_ones() -> None:
    from edgeprune.latency.table import TableStats, _estimate_missing

    def unit(name: str, macs: int, c: int) -> Unit:
        return Unit(name, (name,), (1, c, 8, 8), (1, c, 8, 8), None, Axis(name, c, 1), True, macs)

    a, b, c = unit("a", 1000, 16), unit("b", 4000, 32), unit("lost", 2000, 16)
    per_mac, per_elem = 1e-4, 1e-3  # ms
    tables = {
        "a": UnitTable(a, [None], [16], {(None, 16): per_mac * 1000 + per_elem * 2 * 16 * 64}),
        "b": UnitTable(b, [None], [32], {(None, 32): per_mac * 4000 + per_elem * 2 * 32 * 64}),
        "lost": UnitTable(c),
    }
    stats = TableStats()
    _estimate_missing(tables, stats)
    assert stats.estimated_units == ["lost"] and not tables["lost"].measured
    assert tables["lost"].at(None, None) == pytest.approx(per_mac * 2000 + per_elem * 2 * 16 * 64)
    assert tables["lost"].at(None, 8) == pytest.approx(per_mac * 1000 + per_elem * 2 * 8 * 64)
