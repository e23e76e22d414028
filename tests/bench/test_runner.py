"""The latency runner: each artifact on its suffix's runtime (formats mixed in one process), --runtime still
forcing one, and peak memory measured in the runner itself (VmHWM), checked against a known allocation and
against a parent's high-water mark that ``ru_maxrss`` would have carried across fork + exec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeprune.bench import runner_script
from edgeprune.bench.harness import RUNNER, Protocol, measure_local
from edgeprune.bench.measurement import time_together
from edgeprune.errors import EdgepruneError
from edgeprune.formats import FORMATS

MiB = 2**20
linux_only = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="VmHWM is Linux's")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    import torch
    from torch import nn

    from edgeprune.export import export_model

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_model(model, torch.randn(1, 3, 16, 16), path, "onnx").path


def test_suffix_table_agrees_with_the_format_table() -> None:
    assert {f.suffix: f.runtime for f in FORMATS.values()} == runner_script.SUFFIX_RUNTIMES
    assert set(runner_script.RUNTIMES) == {f.runtime for f in FORMATS.values()}


def test_formats_mixed_in_one_process(tflite_models, onnx_model) -> None:
    paths = [tflite_models["tiny"], onnx_model, tflite_models["small"]]
    raw = measure_local(paths, Protocol(runtime="", warmup=2, runs=10))
    assert [r["runtime"] for r in raw["results"]] == ["litert", "onnxruntime", "litert"]
    assert raw["runtime"] == "litert,onnxruntime"
    assert all(r["latency_ms"]["count"] == 10 and r["latency_ms"]["p50"] > 0 for r in raw["results"])
    measured = time_together(paths, Protocol(runtime="", warmup=2, runs=10))
    assert measured.runtime == "litert,onnxruntime" and len(measured.latency) == 3
    assert measured.speedup(onnx_model, onnx_model) == pytest.approx(1.0)


def test_runtime_flag_still_forces_one_runtime(tflite_models) -> None:
    raw = measure_local([tflite_models["tiny"]], Protocol(runtime="litert", warmup=1, runs=3))
    assert raw["runtime"] == "litert" and raw["results"][0]["runtime"] == "litert"
    with pytest.raises(EdgepruneError, match=r"tiny\.tflite: the onnxruntime runtime cannot run it"):
        measure_local([tflite_models["tiny"]], Protocol(runtime="onnxruntime", warmup=1, runs=3))


def test_unknown_suffix_is_named(tmp_path) -> None:
    odd = tmp_path / "model.pb"
    odd.write_bytes(b"\0")
    with pytest.raises(EdgepruneError, match=r"model.pb: unknown artifact suffix .*pass --runtime"):
        measure_local([odd], Protocol(runtime="", warmup=1, runs=1))


def _runner_with_ballast(path: Path, ballast_mib: int) -> dict:
    """Run the runner script in a process that first holds ``ballast_mib`` MiB resident."""
    code = textwrap.dedent(
        f"""
        import runpy, sys
        ballast = bytes(range(256)) * ({ballast_mib} * 4096)  # written, so resident
        sys.argv = [{str(RUNNER)!r}, "--artifact", {str(path)!r}, "--warmup", "2", "--runs", "5"]
        runpy.run_path({str(RUNNER)!r}, run_name="__main__")
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@linux_only
def test_peak_memory_sees_a_known_allocation(tflite_models) -> None:
    n = 150
    plain = _runner_with_ballast(tflite_models["small"], 0)
    heavy = _runner_with_ballast(tflite_models["small"], n)
    assert heavy["peak_rss_bytes"] - plain["peak_rss_bytes"] >= n * 10**6  # N MiB held: at least N MB more
    assert heavy["rss_before_models_bytes"] - plain["rss_before_models_bytes"] >= n * 10**6
    assert plain["rss_before_models_bytes"] <= plain["peak_rss_bytes"] < 200 * MiB


@linux_only
def test_peak_memory_is_not_the_parents(tflite_models) -> None:
    """A parent holding 400 MiB starts the runner: ``ru_maxrss`` would report >= 400 MiB, VmHWM does not."""
    code = textwrap.dedent(
        f"""
        import json
        from edgeprune.bench.harness import Protocol, measure_local
        ballast = bytes(range(256)) * (400 * 4096)
        raw = measure_local([{str(tflite_models["tiny"])!r}], Protocol(warmup=1, runs=3))
        parent = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(json.dumps({{"runner": raw["peak_rss_bytes"], "parent": parent}}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert peaks["parent"] >= 400 * MiB
    assert peaks["runner"] < 200 * MiB
