"""The ``benchmark_model`` output parser on three real logs, and the adb runner's plumbing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edgeprune.bench.benchmark_model import AdbRunner, BenchmarkModelError, parse_benchmark_output
from edgeprune.errors import EdgepruneError

FIXTURES = Path(__file__).with_name("fixtures")


def _log(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def test_android_xnnpack_percentiles() -> None:
    run = parse_benchmark_output(_log("android_aarch64_xnnpack_percentiles"))
    assert run.graph == "./models/tiny_muaalem_float32.tflite"
    assert run.parameters["Min num runs"] == "1000" and run.parameters["Min warmup runs"] == "5"
    assert run.num_threads is None  # this build does not print it
    assert run.model_size_mb == pytest.approx(24.6229)
    assert run.init_ms == pytest.approx(119.515) and run.init_us == 119515
    assert run.first_inference_us == 87112
    assert run.warmup_avg_us == pytest.approx(58147.4) and run.inference_avg_us == pytest.approx(63743.2)
    assert (run.memory_init_mb, run.memory_overall_mb) == (pytest.approx(55.4961), pytest.approx(55.4961))
    assert run.xnnpack
    (d,) = run.delegates
    assert (d.delegate, d.nodes_replaced, d.nodes_total, d.partitions, d.subgraph) == (
        "TfLiteXNNPackDelegate",
        2168,
        2168,
        1,
        0,
    )
    w, i = run.warmup, run.inference
    assert (w.count, w.first, w.curr, w.min, w.max, w.std) == (9, 87112, 51629, 51629, 87112, 11478)
    assert (w.p5, w.median, w.p95, w.min_iterations, w.min_seconds) == (51629, 51962, 87112, 5, 0.5)
    assert (i.count, i.first, i.curr, i.min, i.max) == (1000, 52162, 49785, 49088, 686105)
    assert (i.avg, i.std, i.p5, i.median, i.p95) == (pytest.approx(63743.2), 60716, 49620, 51891, 68628)
    assert (i.min_iterations, i.min_seconds) == (1000, 1.0)
    assert run.op_profile == {}
    res = run.to_result()
    assert res["latency_ms"]["p50"] == pytest.approx(51.891) and res["latency_ms"]["count"] == 1000
    assert res["first_ms"] == pytest.approx(87.112) and res["size_bytes"] == round(24.6229 * 2**20)


def test_legacy_x86_op_profiling() -> None:
    run = parse_benchmark_output(_log("legacy_x86_4threads_op_profiling"))
    assert run.graph == "./mobilenet_v1_1.0_224.tflite" and run.num_threads == 4
    assert run.parameters["Enable op profiling"] == "1"
    assert run.model_size_mb == pytest.approx(16.9008) and run.init_ms == pytest.approx(17.187)
    assert run.first_inference_us == 3512391 and run.warmup_avg_us == pytest.approx(3.51239e6)
    assert run.inference_avg_us == pytest.approx(2.95034e6)
    assert (run.memory_init_mb, run.memory_overall_mb) == (pytest.approx(4.21094), pytest.approx(46.0859))
    assert not run.xnnpack and run.delegates == ()
    w = run.warmup
    assert (w.count, w.curr, w.first, w.avg, w.min_iterations) == (1, 3512391, None, None, 1)
    i = run.inference
    assert (i.count, i.first, i.min, i.max, i.avg, i.std) == (
        50,
        2990275,
        2727568,
        3189954,
        pytest.approx(2.95034e6),
        109798,
    )
    assert i.median is None and i.p95 is None
    (prof,) = [s for s in run.stats if s.label == "profiler"]
    assert (prof.count, prof.avg, prof.std) == (50, pytest.approx(2.9499e6), 109770)
    summary = run.op_profile["runs"]
    assert [r.node_type for r in summary] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SOFTMAX", "SQUEEZE"]
    conv = summary[0]
    assert (conv.count, conv.avg_ms, conv.avg_pct, conv.cdf_pct, conv.mem_kb, conv.times_called) == (
        15, pytest.approx(2651.853), pytest.approx(89.897), pytest.approx(89.897), 0.0, 15
    )  # fmt: skip
    assert sum(r.count for r in summary) == run.nodes_executed == 31
    assert run.to_result()["latency_ms"]["p50"] is None  # the tool printed no median: none is invented


def test_failed_allocation_quotes_the_tool_errors() -> None:
    with pytest.raises(BenchmarkModelError) as info:
        parse_benchmark_output(_log("android_aarch64_failed_allocate"), source="tiny_muaalem_int8")
    msg = str(info.value)
    assert isinstance(info.value, EdgepruneError)
    assert msg.startswith("tiny_muaalem_int8: benchmark_model failed")
    assert "Node number 57 (BATCH_MATMUL) failed to prepare" in msg
    assert "Failed to allocate tensors!" in msg and "batch_matmul.cc:353" in msg


def test_truncated_output_is_an_error() -> None:
    text = "\n".join(_log("android_aarch64_xnnpack_percentiles").splitlines()[:12])
    with pytest.raises(BenchmarkModelError, match="printed no inference timings"):
        parse_benchmark_output(text)


def test_adb_command_lines(tmp_path) -> None:
    cmds = AdbRunner(serial="R58M123", device_dir="/data/local/tmp/ep").commands(
        tmp_path / "my model.tflite", threads=4, xnnpack=False, num_runs=50, op_profiling=True
    )
    assert cmds["push"] == [
        "adb",
        "-s",
        "R58M123",
        "push",
        str(tmp_path / "my model.tflite"),
        "/data/local/tmp/ep/my model.tflite",
    ]
    assert cmds["benchmark"][:4] == ["adb", "-s", "R58M123", "shell"]
    assert cmds["benchmark"][4] == (
        "/data/local/tmp/benchmark_model '--graph=/data/local/tmp/ep/my model.tflite' --num_threads=4 "
        "--use_xnnpack=false --warmup_runs=20 --num_runs=50 --min_secs=0 --enable_op_profiling=true"
    )
    assert cmds["cleanup"] == ["adb", "-s", "R58M123", "shell", "rm -f '/data/local/tmp/ep/my model.tflite'"]
    assert AdbRunner().commands("m.tflite")["benchmark"][:2] == ["adb", "shell"]


def _fake_adb(tmp_path: Path, log: str, code: int = 0) -> Path:
    """A stand-in ``adb`` executable (no device here) that records its argv and replays a real log."""
    script = tmp_path / "adb"
    calls = tmp_path / "calls.txt"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        f'case "$*" in *benchmark_model*) cat {FIXTURES / (log + ".txt")}; exit {code};; esac\nexit 0\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_adb_runner_runs_and_parses(tmp_path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0" * 16)
    adb = _fake_adb(tmp_path, "android_aarch64_xnnpack_percentiles")
    run = AdbRunner(adb=str(adb)).run(model, threads=2)
    assert run.inference.median == 51891
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["shell", "push", "shell", "shell"]
    assert "--num_threads=2" in calls[2] and calls[3].startswith("shell rm -f")


def test_adb_runner_failed_run_and_missing_adb(tmp_path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0" * 16)
    adb = _fake_adb(tmp_path, "android_aarch64_failed_allocate", code=1)
    with pytest.raises(BenchmarkModelError, match=r"Node number 57 \(BATCH_MATMUL\) failed to prepare"):
        AdbRunner(adb=str(adb)).run(model)
    assert "rm -f" in (tmp_path / "calls.txt").read_text()  # cleaned up even though it failed
    with pytest.raises(BenchmarkModelError, match=r"adb executable .* not found"):
        AdbRunner(adb=os.fspath(tmp_path / "no-adb")).run(model)
