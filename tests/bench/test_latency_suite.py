"""The latency suite's logic (benchmarks/latency/) on one tiny architecture, ONNX Runtime, 1 thread, 20 runs.

Bisecting and exporting the tiny model costs ~15 s of CPU, so the tests that measure it are marked slow.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from edgeprune.bench.reference import LADDER, RUNGS, builtin_ladder
from edgeprune.bench.regression import NOISE_FLOOR
from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec

SUITE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "latency"
sys.path.insert(0, str(SUITE_DIR))

import suite  # noqa: E402
import suite_measure as sm  # noqa: E402
import suite_report  # noqa: E402
import suite_variants as sv  # noqa: E402

TINY = sv.Arch("tiny", ModelSpec("edgeprune:edgenet"), (1, 1, 32, 32), extra_repeats=1)
ROUND_TOS = (8,)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("latency-cache")


@pytest.fixture(scope="module")
def variants(cache_dir) -> list[sv.Variant]:
    return sv.build_variants(TINY, cache_dir, ROUND_TOS, ("onnx",), budget=0.5, log=lambda _: None)


@pytest.fixture()
def tiny_suite(monkeypatch):
    """The suite's architecture table holding only the tiny arch (a data table, not a runtime)."""
    monkeypatch.setattr(sv, "ARCHS", {"tiny": TINY})


def _suite_args(tmp: Path, cache_dir: Path, *extra: str) -> list[str]:
    return ["--models", "tiny", "--runtimes", "onnxruntime", "--threads", "1", "--round-to", "8",
            "--runs", "20", "--warmup", "2", "--repeats", "2", "--min-seconds", "0",
            "--out-dir", str(tmp / "out"), "--cache-dir", str(cache_dir), "--baseline", str(tmp / "baseline.json"),
            "--markdown", str(tmp / "table.md"),  # never the committed docs/latency.md
            *extra]  # fmt: skip


@pytest.mark.slow
def test_variants_meet_the_budget_and_are_cached(variants, cache_dir) -> None:
    unpruned, *pruned = variants
    assert [v.name for v in variants] == ["unpruned", "r8"]
    assert unpruned.macs > 0 and unpruned.ratio == 0.0
    for v in pruned:
        assert 0.0 < v.ratio <= 0.9
        assert v.macs <= 0.5 * unpruned.macs and v.params < unpruned.params
        assert v.artifacts["onnx"].is_file() and v.artifacts["onnx"].suffix == ".onnx"
    logged: list[str] = []
    again = sv.build_variants(TINY, cache_dir, ROUND_TOS, ("onnx",), budget=0.5, log=logged.append)
    assert logged == []  # nothing bisected or exported twice
    assert [v.artifacts["onnx"] for v in again] == [v.artifacts["onnx"] for v in variants]
    assert [v.macs for v in again] == [v.macs for v in variants]


@pytest.mark.slow
def test_ab_rows_key_column(variants) -> None:
    protocol = sm.Protocol(runtime="onnxruntime", threads=1, warmup=2, runs=20)
    ab = sm.measure_ab({v.name: v.artifacts["onnx"] for v in variants}, protocol, repeats=2)
    assert set(ab) == {"unpruned", "r8"}
    for m in ab.values():
        assert len(m["p50_runs"]) == 2 and m["runs_per_process"] >= 20 and m["p50_ms"] > 0
    assert ab["unpruned"]["ratios"] == [1.0, 1.0]
    rows = sm.speedup_rows("tiny", "onnxruntime", 1, [suite._vdict(v) for v in variants], ab)
    by = {r["variant"]: r for r in rows}
    base = variants[0]
    for v in variants[1:]:
        r = by[v.name]
        speedup = ab["unpruned"]["p50_ms"] / ab[v.name]["p50_ms"]
        assert r["macs_reduction"] == pytest.approx(base.macs / v.macs)
        assert r["speedup"] == pytest.approx(speedup)
        assert r["speedup_per_macs_reduction"] == pytest.approx(speedup * v.macs / base.macs)
        entry = sm.pruned_gate_entry("tiny", v.name, ab[v.name], ab["unpruned"])
        p50s = zip(ab[v.name]["p50_runs"], ab["unpruned"]["p50_runs"], strict=True)
        assert sorted(entry["ratios"]) == pytest.approx(sorted(p / u for p, u in p50s))
        assert entry["noise"] >= NOISE_FLOOR and entry["vs"] == entry["reference"]["name"] == "tiny/unpruned"
    assert by["unpruned"]["speedup"] == 1.0 and by["unpruned"]["speedup_per_macs_reduction"] == 1.0


def test_machine_note_only_when_the_cpu_differs() -> None:
    here = {"cpu": "Intel(R) Xeon(R) Processor", "cpus": 2}
    assert suite.machine_note(here, dict(here)) is None
    note = suite.machine_note(here, {"cpu": "Cortex-A76", "cpus": 4})
    assert "Intel(R) Xeon(R) Processor (2 cores)" in note and "Cortex-A76 (4 cores)" in note
    assert "make bench-baseline" in note


@pytest.mark.slow
def test_suite_json_gate_and_swap(tiny_suite, variants, cache_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(suite, "builtin_ladder", lambda rt: builtin_ladder(rt, cache_dir / "ref", RUNGS[:2]))
    assert suite.main(_suite_args(tmp_path, cache_dir, "--update-baseline")) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for key in ("schema", "settings", "env", "archs", "rows", "records", "timing_s"):
        assert key in results
    assert results["settings"]["runs"] == 20 and results["settings"]["round_to"] == [8]
    assert len(results["rows"]) == 2 and {r["threads"] for r in results["rows"]} == {1}
    for row in results["rows"]:
        key = (row["p50_unpruned_ms"] / row["p50_ms"]) / row["macs_reduction"]
        assert row["speedup_per_macs_reduction"] == pytest.approx(key)
        assert row["macs"] == results["archs"]["tiny"]["variants"][row["variant"]]["macs"]
    record = results["records"]["onnxruntime/t1"]
    assert set(record["models"]) == {"tiny/unpruned", "tiny/r8"}
    assert all(len(m["ratios"]) == 2 + 1 for m in record["models"].values())  # --repeats 2 + the arch's extra 1
    assert results["settings"]["repeats_note"] == "tiny 3"
    rung = record["models"]["tiny/unpruned"]["reference"]["name"]
    assert rung in {r.name for r in RUNGS[:2]} and record["models"]["tiny/unpruned"]["vs"] == rung
    assert record["reference"]["name"] == LADDER
    assert (tmp_path / "out" / "latency_vs_macs.png").stat().st_size > 10_000
    assert "| tiny | ONNX Runtime |" in (tmp_path / "out" / "latency.md").read_text()
    assert (tmp_path / "table.md").read_text() == (tmp_path / "out" / "latency.md").read_text()
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["records"] == results["records"]

    passed, verdicts = suite.gate(results["records"], baseline, 0.10)  # identical record: nothing moved
    assert passed and all(v["change"] == 0.0 for v in verdicts["onnxruntime/t1"]["verdicts"])
    slowed = json.loads(json.dumps(results["records"]))
    slowed["onnxruntime/t1"]["models"]["tiny/r8"]["ratio"] *= 1.5
    passed, verdicts = suite.gate(slowed, baseline, 0.10)
    bad = [v["name"] for v in verdicts["onnxruntime/t1"]["verdicts"] if v["status"] == "regression"]
    assert not passed and bad == ["tiny/r8"]

    suite.main(_suite_args(tmp_path, cache_dir, "--check", "--swap-unpruned", "tiny/r8"))  # verdict is timing: ignored
    swapped = json.loads((tmp_path / "out" / "results.json").read_text())
    models = swapped["records"]["onnxruntime/t1"]["models"]
    assert models["tiny/r8"]["sha256"] == models["tiny/unpruned"]["sha256"]
    assert models["tiny/unpruned"]["reference"]["name"] == rung  # --check keeps the baseline's rung
    assert models["tiny/r8"]["sha256"] != results["records"]["onnxruntime/t1"]["models"]["tiny/r8"]["sha256"]
    assert [r["swapped"] for r in swapped["rows"]] == [False, True]
    assert "gate" in swapped and "onnxruntime/t1" in swapped["gate"]["records"]
    assert swapped["gate"]["machine"] is None  # same machine as the baseline


def test_round_to_preference_picks_the_best_mean() -> None:
    rows = [
        {"arch": a, "runtime": "litert", "threads": 1, "round_to": k, "speedup_per_macs_reduction": v}
        for a, k, v in [("a", 1, 0.5), ("a", 8, 0.9), ("b", 1, 0.8), ("b", 8, 0.7)]
    ]
    (pref,) = suite_report.round_to_preference(rows)
    assert pref["best"] == 8 and pref["wins"] == {1: 1, 8: 1}
    assert math.isclose(pref["mean_key"][1], 0.65) and math.isclose(pref["mean_key"][8], 0.8)


def test_bad_arguments_name_the_culprit(tiny_suite, tmp_path) -> None:
    with pytest.raises(EdgepruneError, match="--models: unknown architecture"):
        suite.validate(suite.parse_args(["--models", "resnet999"]))
    with pytest.raises(EdgepruneError, match="--swap-unpruned tiny/r3"):
        suite.validate(suite.parse_args(["--models", "tiny", "--swap-unpruned", "tiny/r3"]))
    with pytest.raises(EdgepruneError, match="create it with --update-baseline"):
        suite.validate(suite.parse_args(["--models", "tiny", "--check", "--baseline", str(tmp_path / "none.json")]))
    with pytest.raises(EdgepruneError, match="budget"):
        sv.build_variants(TINY, tmp_path, (8,), ("onnx",), budget=1.5)


def test_key_column_on_known_numbers() -> None:
    variants = [{"name": "unpruned", "round_to": None, "macs": 100, "params": 10},
                {"name": "r8", "round_to": 8, "macs": 40, "params": 4}]  # fmt: skip
    ab = {"unpruned": {"p50_ms": 2.0, "p90_ms": 2.5, "size_bytes": 1000},
          "r8": {"p50_ms": 1.0, "p90_ms": 1.2, "size_bytes": 400}}  # fmt: skip
    base, r8 = sm.speedup_rows("a", "litert", 2, variants, ab)
    assert (base["speedup"], base["macs_reduction"], base["speedup_per_macs_reduction"]) == (1.0, 1.0, 1.0)
    assert r8["speedup"] == 2.0 and r8["macs_reduction"] == 2.5 and r8["speedup_per_macs_reduction"] == 0.8
    assert (r8["round_to"], r8["threads"], r8["p50_unpruned_ms"]) == (8, 2, 2.0)


def test_gate_rejects_a_foreign_baseline() -> None:
    with pytest.raises(EdgepruneError, match="baseline schema"):
        suite.gate({}, {"schema": "edgeprune.bench.latency/1", "records": {}}, 0.10)
