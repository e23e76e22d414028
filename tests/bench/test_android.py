"""``edgeprune bench --android``: artifacts take turns on the device through adb and TFLite's benchmark_model.

No Android emulator runs here (no KVM, no SDK), so a stand-in ``adb`` script records every call and replays real
``benchmark_model`` logs (tests/bench/fixtures); the parsing, the alternation, the speedup and the command line are
the real code."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edgeprune.bench.android import measure_android
from edgeprune.bench.benchmark_model import AdbRunner, BenchmarkModelError
from edgeprune.commands.main import main

FIXTURES = Path(__file__).with_name("fixtures")
FAST = "android_aarch64_xnnpack_percentiles"  # median 51891 us, memory 55.4961 MB
SLOW = "legacy_x86_4threads_op_profiling"  # no median printed: mean 2.95034e6 us


def _stand_in_adb(folder: Path, logs: dict[str, str], code: int = 0) -> Path:
    """An ``adb`` that appends its argv to calls.txt and, for a benchmark_model call, prints the log chosen by the
    artifact's file name."""
    cases = "".join(
        f"    *{stem}.tflite*) cat {FIXTURES / (log + '.txt')}; exit {code};;\n" for stem, log in logs.items()
    )
    script = folder / "adb"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {folder / "calls.txt"}\n'
        'case "$*" in\n'
        "  *benchmark_model*)\n"
        '    case "$*" in\n'
        f"{cases}"
        "    esac;;\n"
        "esac\n"
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _artifacts(folder: Path) -> dict[str, Path]:
    paths = {"unpruned": folder / "unpruned.tflite", "pruned": folder / "pruned.tflite"}
    for i, path in enumerate(paths.values()):
        path.write_bytes(b"\0" * (2048 * (i + 1)))
    return paths


def test_artifacts_take_turns_and_latency_is_the_median_of_rounds(tmp_path) -> None:
    models = _artifacts(tmp_path)
    adb = _stand_in_adb(tmp_path, {"unpruned": SLOW, "pruned": FAST})
    result = measure_android(models, AdbRunner(serial="emulator-5554", adb=str(adb)), threads=2, repeats=3)
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    benchmarks = [c for c in calls if "benchmark_model" in c]
    assert [("/pruned.tflite" in c) for c in benchmarks] == [False, True] * 3  # A, B, A, B, A, B
    assert all(c.startswith("-s emulator-5554 shell") and "--num_threads=2" in c for c in benchmarks)
    assert sum(c.startswith("-s emulator-5554 push") for c in calls) == 6
    assert sum("rm -f" in c for c in calls) == 6
    slow, fast = result.timings
    assert (slow.statistic, fast.statistic) == ("mean", "median")
    assert slow.latency_ms == pytest.approx(2950.34) and fast.latency_ms == pytest.approx(51.891)
    assert result.speedup(fast) == pytest.approx(2950.34 / 51.891) and result.speedup(slow) == 1.0
    assert fast.memory_mb == pytest.approx(55.4961) and fast.xnnpack and not slow.xnnpack
    assert fast.init_ms == pytest.approx(119.515) and fast.size_bytes == 4096
    assert len(fast.rounds) == 3 and fast.rounds[0].count == 1000


def test_cli_android_writes_json_and_table(tmp_path, capsys) -> None:
    models = _artifacts(tmp_path)
    adb = _stand_in_adb(tmp_path, {"unpruned": SLOW, "pruned": FAST})
    args = ["bench", "--target", "tflite", "--android", "R58M", "--adb", str(adb), "--repeats", "2"]
    args += ["--artifact", f"unpruned={models['unpruned']}", "--artifact", f"pruned={models['pruned']}"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "tflite-android.json").read_text())
    assert record["serial"] == "R58M" and record["repeats"] == 2 and record["threads"] == 1
    assert [t["name"] for t in record["timings"]] == ["unpruned", "pruned"]
    assert record["summary"]["pruned"]["speedup"] == pytest.approx(2950.34 / 51.891)
    out = capsys.readouterr().out
    assert "benchmark_model" in out and "56.86x" in out and "median" in out
    # the only device: no -s
    only = ["bench", "--target", "tflite", "--android", "--adb", str(adb), "--artifact", str(models["pruned"])]
    assert main([*only, "--repeats", "1", "--out", str(tmp_path / "o2")]) == 0
    assert (tmp_path / "calls.txt").read_text().splitlines()[-1].startswith("shell rm -f")


def test_cli_android_user_errors(tmp_path, capsys) -> None:
    models = _artifacts(tmp_path)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\0")
    base = ["bench", "--target", "tflite", "--android"]
    assert main([*base, "--artifact", str(onnx)]) == 2
    assert "runs .tflite artifacts with benchmark_model; m=" in capsys.readouterr().err
    assert main([*base, "--artifact", str(models["pruned"]), "--baseline", str(tmp_path / "b.json")]) == 2
    assert "--android measures and tabulates only" in capsys.readouterr().err
    assert main([*base, "--artifact", str(models["pruned"]), "--adb", str(tmp_path / "no-adb")]) == 2
    assert "adb executable" in capsys.readouterr().err


def test_device_failure_quotes_the_tool(tmp_path) -> None:
    models = _artifacts(tmp_path)
    adb = _stand_in_adb(tmp_path, {"unpruned": "android_aarch64_failed_allocate"}, code=1)
    with pytest.raises(BenchmarkModelError, match=r"Failed to allocate tensors"):
        measure_android({"unpruned": models["unpruned"]}, AdbRunner(adb=str(adb)), repeats=1)
