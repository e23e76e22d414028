"""The latency regression gate on real LiteRT measurements of tiny models."""

from __future__ import annotations

import copy
import math
import shutil

import pytest

from edgeprune.bench.harness import Protocol
from edgeprune.bench.regression import (
    NOISE_FLOOR,
    REFERENCE_NAME,
    BaselineMismatchError,
    compare,
    default_reference,
    log_spread,
    measure_ratios,
)

PROTOCOL = Protocol(runtime="litert", threads=1, warmup=10, runs=150)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tflite_models):
    return default_reference("litert", tmp_path_factory.mktemp("refcache"))


def _measure(models, reference):
    return measure_ratios(models, reference, PROTOCOL, repeats=3, reference_name=REFERENCE_NAME)


def test_builtin_reference_is_cached(reference, tmp_path) -> None:
    assert reference.suffix == ".tflite" and reference.stat().st_size > 1000
    before = reference.stat().st_mtime_ns
    assert default_reference("litert", reference.parent) == reference
    assert reference.stat().st_mtime_ns == before


def test_measurement_record(reference, tflite_models) -> None:
    rec = _measure({"net": tflite_models["small"]}, reference)
    net = rec["models"]["net"]
    assert len(net["ratios"]) == 3 and net["ratio"] > 0
    assert net["noise"] >= NOISE_FLOOR
    assert net["size_bytes"] == tflite_models["small"].stat().st_size
    assert rec["reference"]["name"] == REFERENCE_NAME and rec["reference"]["p50_ms"] > 0
    assert rec["protocol"]["repeats"] == 3 and rec["protocol"]["runs"] == 150


def test_identical_runs_pass_and_swapped_slow_model_fails(reference, tflite_models, tmp_path) -> None:
    artifact = tmp_path / "net.tflite"
    shutil.copy(tflite_models["small"], artifact)
    baseline = _measure({"net": artifact, "tiny": tflite_models["tiny"]}, reference)
    for _ in range(3):
        result = compare(_measure({"net": artifact, "tiny": tflite_models["tiny"]}, reference), baseline)
        assert result.passed, result.to_dict()
        assert {v.status for v in result.verdicts} <= {"ok"}
    shutil.copy(tflite_models["big"], artifact)  # the slow model swapped in under the same name
    result = compare(_measure({"net": artifact, "tiny": tflite_models["tiny"]}, reference), baseline)
    assert not result.passed
    (bad,) = result.regressions
    assert bad.name == "net" and bad.change > 1.0
    assert "beyond the 10% threshold" in bad.message
    assert {v.name: v.status for v in result.verdicts}["tiny"] == "ok"


def _record(ratio: float, noise: float, **protocol) -> dict:
    proto = {"runtime": "litert", "threads": 1, "xnnpack": True, **protocol}
    return {
        "schema": "edgeprune.bench.latency/1",
        "protocol": proto,
        "reference": {"name": REFERENCE_NAME, "sha256": "a"},
        "models": {"m": {"ratio": ratio, "noise": noise}},
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
    cur["models"] = {"other": {"ratio": 2.0, "noise": 0.01}}
    statuses = {v.name: v.status for v in compare(cur, base).verdicts}
    assert statuses == {"other": "new", "m": "missing"}
    with pytest.raises(BaselineMismatchError, match=r"threads: baseline 1 vs current 2"):
        compare(_record(1.0, 0.01, threads=2), base)
    other_ref = copy.deepcopy(base)
    other_ref["reference"] = {"name": "mine.tflite", "sha256": "b"}
    with pytest.raises(BaselineMismatchError, match=r"reference: baseline 'mine.tflite'"):
        compare(_record(1.0, 0.01), other_ref)
    rebuilt = copy.deepcopy(base)
    rebuilt["reference"]["sha256"] = "c"
    assert "rebuilt" in compare(_record(1.0, 0.01), rebuilt).notes[0]


def test_log_spread_is_relative_and_floored() -> None:
    assert log_spread([2.0]) == NOISE_FLOOR
    assert log_spread([1.0, 1.0, 1.0]) == NOISE_FLOOR
    assert math.isclose(log_spread([1.0, 1.2, 1.44]), 1.4826 * math.log(1.2))
    assert math.isclose(log_spread([10.0, 12.0, 14.4]), log_spread([1.0, 1.2, 1.44]))
