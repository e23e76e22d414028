"""The latency regression gate on real LiteRT measurements of tiny models."""

from __future__ import annotations

import copy
import itertools
import math
import shutil

import pytest
import torch

from edgeprune.bench.harness import Protocol
from edgeprune.bench.reference import (
    LADDER,
    RUNGS,
    builtin_ladder,
    nearest_rung,
    pick_rungs,
    reference_net,
    tiny_net,
)
from edgeprune.bench.regression import (
    NOISE_FLOOR,
    BaselineMismatchError,
    baseline_rungs,
    compare,
    log_spread,
    measure_ratios,
)
from edgeprune.prune import count_macs_params

PROTOCOL = Protocol(runtime="litert", threads=1, warmup=10, runs=150)
TEST_RUNGS = RUNGS[:2]  # the two smallest rungs: enough to test picking, ~6 s to export


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, tflite_models):
    return builtin_ladder("litert", tmp_path_factory.mktemp("refcache"), TEST_RUNGS)


def _measure(models, ladder, fixed=None):
    return measure_ratios(models, ladder, PROTOCOL, repeats=3, fixed=fixed)


def test_builtin_ladder_is_cached(ladder) -> None:
    assert list(ladder) == [f"{LADDER}/conv3-64px", f"{LADDER}/mbconv-w0.25-64px"]
    paths = list(ladder.values())
    assert all(p.suffix == ".tflite" and p.stat().st_size > 1000 for p in paths)
    before = [p.stat().st_mtime_ns for p in paths]
    assert builtin_ladder("litert", paths[0].parent, TEST_RUNGS) == ladder
    assert [p.stat().st_mtime_ns for p in paths] == before


def test_ladder_rungs_grow_in_work_and_weights() -> None:
    costs = []
    for rung in RUNGS:
        net = tiny_net() if rung.width is None else reference_net(rung.width)
        costs.append(count_macs_params(net, torch.zeros(1, 3, rung.resolution, rung.resolution)))
    assert RUNGS[0].width is None and costs[0][1] < costs[1][1]  # the tiny net: few ops, fewest weights
    mbconv = list(zip(costs[1:], RUNGS[1:], strict=True))  # above it, the same net: MACs order is latency order
    for ((macs_a, params_a), _), ((macs_b, params_b), rung) in itertools.pairwise(mbconv):
        assert 1.5 < macs_b / macs_a < 12, (rung.label, macs_a, macs_b)
        assert params_b >= params_a, rung.label
    assert torch.equal(reference_net(0.5)[0].weight, reference_net(0.5)[0].weight)  # seeded: same on every build


def test_nearest_rung_on_a_log_scale() -> None:
    rungs = {"a": 0.1, "b": 0.4, "c": 1.6}
    assert nearest_rung(0.19, rungs) == "a" and nearest_rung(0.21, rungs) == "b"
    assert nearest_rung(100.0, rungs) == "c" and nearest_rung(0.001, rungs) == "a"
    picks = pick_rungs({"m": "m.tflite"}, {"a": "a", "b": "b"}, lambda paths: [1.0, 3.0, 2.5])
    assert picks == {"m": "b"}


def test_measurement_record(ladder, tflite_models) -> None:
    rec = _measure({"net": tflite_models["small"]}, ladder)
    net = rec["models"]["net"]
    assert len(net["ratios"]) == 3 and net["ratio"] > 0
    assert net["noise"] >= NOISE_FLOOR
    assert net["size_bytes"] == tflite_models["small"].stat().st_size
    assert rec["reference"]["name"] == LADDER and rec["reference"]["rungs"] == list(ladder)
    assert net["reference"]["name"] in ladder  # which of the two small rungs is nearest is up to the machine
    assert net["reference"]["p50_ms"] > 0
    assert rec["protocol"]["repeats"] == 3 and rec["protocol"]["runs"] == 150


def test_identical_runs_pass_and_swapped_slow_model_fails(ladder, tflite_models, tmp_path) -> None:
    artifact = tmp_path / "net.tflite"
    shutil.copy(tflite_models["small"], artifact)
    models = {"net": artifact, "tiny": tflite_models["tiny"]}
    baseline = _measure(models, ladder)
    fixed = baseline_rungs(baseline)
    assert set(fixed) == {"net", "tiny"} and set(fixed.values()) <= set(ladder)
    # the gate's mechanics, not this machine's noise (a 16x16 conv takes microseconds: +-30% between runs was seen
    # on a quiet 2-core box); a 100% threshold still catches "big", about 60x "small"
    for _ in range(3):
        result = compare(_measure(models, ladder, fixed), baseline, threshold=1.0)
        assert result.passed, result.to_dict()
        assert {v.status for v in result.verdicts} <= {"ok", "faster"}  # faster is noise here, never a failure
    shutil.copy(tflite_models["big"], artifact)  # the slow model swapped in under the same name
    slowed = _measure(models, ladder, fixed)
    assert baseline_rungs(slowed) == fixed  # the baseline's pairing is kept even though the model grew
    result = compare(slowed, baseline, threshold=1.0)
    assert not result.passed
    (bad,) = result.regressions
    assert bad.name == "net" and bad.change > 1.0
    assert "beyond the 100% threshold" in bad.message
    assert {v.name: v.status for v in result.verdicts}["tiny"] in ("ok", "faster")


def _record(ratio: float, noise: float, **protocol) -> dict:
    proto = {"runtime": "litert", "threads": 1, "xnnpack": True, **protocol}
    return {
        "schema": "edgeprune.bench.latency/2",
        "protocol": proto,
        "reference": {"name": LADDER},
        "models": {"m": {"ratio": ratio, "noise": noise, "reference": {"name": f"{LADDER}/r", "sha256": "a"}}},
    }


def test_compare_needs_both_threshold_and_noise() -> None:
    base = _record(1.0, 0.01)
    assert compare(_record(1.09, 0.01), base).passed  # under threshold
    quiet = compare(_record(1.15, 0.01), base)
    assert not quiet.passed and quiet.verdicts[0].status == "regression"
    noisy = compare(_record(1.15, 0.08), base)  # 15% growth, but 2 x hypot(8%, 1%) ~ 17.5% is explainable
    assert noisy.passed and noisy.verdicts[0].status == "ok" and "within noise" in noisy.verdicts[0].message
    assert math.isclose(noisy.verdicts[0].explainable, math.exp(2 * math.hypot(0.08, 0.01)) - 1)
    assert compare(_record(0.5, 0.01), base).verdicts[0].status == "faster"
    assert not compare(_record(1.06, 0.01), base, threshold=0.05).passed


def test_compare_new_missing_and_mismatch() -> None:
    base, cur = _record(1.0, 0.01), _record(1.0, 0.01)
    cur["models"] = {"other": {**cur["models"]["m"], "ratio": 2.0}}
    statuses = {v.name: v.status for v in compare(cur, base).verdicts}
    assert statuses == {"other": "new", "m": "missing"}
    with pytest.raises(BaselineMismatchError, match=r"threads: baseline 1 vs current 2"):
        compare(_record(1.0, 0.01, threads=2), base)
    other_ref = copy.deepcopy(base)
    other_ref["reference"] = {"name": "mine.tflite"}
    with pytest.raises(BaselineMismatchError, match=r"reference: baseline 'mine.tflite'"):
        compare(_record(1.0, 0.01), other_ref)
    other_rung = copy.deepcopy(base)
    other_rung["models"]["m"]["reference"]["name"] = f"{LADDER}/s"
    with pytest.raises(BaselineMismatchError, match=r"m: measured against '.*/r' but the baseline used '.*/s'"):
        compare(_record(1.0, 0.01), other_rung)
    rebuilt = copy.deepcopy(base)
    rebuilt["models"]["m"]["reference"]["sha256"] = "c"
    assert f"m: reference {LADDER}/r was rebuilt" in compare(_record(1.0, 0.01), rebuilt).notes[0]
    assert baseline_rungs(base) == {"m": f"{LADDER}/r"} and baseline_rungs(None) == {}


def test_log_spread_is_relative_and_floored() -> None:
    assert log_spread([2.0]) == NOISE_FLOOR
    assert log_spread([1.0, 1.0, 1.0]) == NOISE_FLOOR
    assert math.isclose(log_spread([1.0, 1.2, 1.44]), 1.4826 * math.log(1.2))
    assert math.isclose(log_spread([10.0, 12.0, 14.4]), log_spread([1.0, 1.2, 1.44]))
