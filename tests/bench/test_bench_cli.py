"""``edgeprune bench`` end to end: baseline, passing reruns, a swapped slow model, errors, remote."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from edgeprune.bench.reference import CACHE_ENV, LADDER, RUNGS
from edgeprune.bench.regression import baseline_rungs
from edgeprune.commands.bench import parse_models
from edgeprune.commands.main import main
from edgeprune.errors import EdgepruneError


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "tinyboard.toml"
    path.write_text('name = "tinyboard"\n[bench]\nruntime = "litert"\nthreads = 1\nwarmup = 5\nruns = 100\n')
    return path


def _bench(target, ref, *extra: str) -> int:
    return main(["bench", "--target", str(target), "--reference", str(ref), "--repeats", "3", *extra])


def test_bench_gate_end_to_end(target, tflite_models, tmp_path, capsys) -> None:
    artifact, baseline, out_dir = tmp_path / "net.tflite", tmp_path / "baseline.json", tmp_path / "result"
    out = out_dir / "tinyboard.json"
    shutil.copy(tflite_models["small"], artifact)
    ref = tflite_models["tiny"]
    # the gate's mechanics, not this machine's noise: a 100% threshold still catches "big" (about 60x "small")
    args = ["--artifact", f"net={artifact}", "--baseline", str(baseline), "--out", str(out_dir), "--threshold", "1.0"]
    assert _bench(target, ref, *args, "--update-baseline") == 0
    assert _bench(target, ref, *args) == 2  # the measurement it wrote is replaced only with --force
    assert f"{out} already exists; pass --force" in capsys.readouterr().err
    args.append("--force")
    saved = json.loads(baseline.read_text())
    assert saved["target"] == "tinyboard" and saved["protocol"]["runs"] == 100
    assert saved["models"]["net"]["size_bytes"] == artifact.stat().st_size
    assert _bench(target, ref, *args) == 0
    result = json.loads(out.read_text())
    assert result["gate"]["passed"] is True and result["gate"]["verdicts"][0]["status"] == "ok"
    assert "net" in capsys.readouterr().out
    shutil.copy(tflite_models["big"], artifact)
    assert _bench(target, ref, *args) == 1
    result = json.loads(out.read_text())
    assert result["gate"]["passed"] is False and result["gate"]["verdicts"][0]["status"] == "regression"
    assert "REGRESSION" in capsys.readouterr().out
    # with no --artifact the baseline's list is measured; --runs overrides the target's bench.runs
    again = ["--baseline", str(baseline), "--out", str(out_dir), "--runs", "40", "--threshold", "1", "--force"]
    assert _bench(target, ref, *again) == 1
    result = json.loads(out.read_text())
    assert result["protocol"]["runs"] == 40 and list(result["models"]) == ["net"]
    # a different thread count is not comparable: a clear error, unless the baseline is being replaced
    assert _bench(target, ref, *args, "--threads", "2") == 2
    assert "threads: baseline 1 vs current 2" in capsys.readouterr().err
    # zero or negative counts are refused, never silently replaced by the target's
    assert _bench(target, ref, *args, "--runs", "0") == 2
    assert "--runs must be >= 1, got 0" in capsys.readouterr().err


def test_bench_user_errors(target, tflite_models, tmp_path, capsys) -> None:
    missing = tmp_path / "nope.json"
    assert (
        _bench(target, tflite_models["tiny"], "--artifact", str(tflite_models["small"]), "--baseline", str(missing))
        == 2
    )
    assert f"baseline {missing} does not exist; create it with --update-baseline" in capsys.readouterr().err
    assert _bench(target, tflite_models["tiny"], "--artifact", str(tmp_path / "ghost.tflite")) == 2
    assert "artifact for 'ghost' does not exist" in capsys.readouterr().err
    onnx_target = target.with_name("onnxboard.toml")
    onnx_target.write_text('[export]\nformat = "onnx"\n[bench]\nruntime = "onnxruntime"\n')
    assert _bench(onnx_target, tmp_path / "ref.onnx", "--artifact", str(tflite_models["small"])) == 2
    assert "does not exist: " + str(tmp_path / "ref.onnx") in capsys.readouterr().err
    assert main(["bench", "--target", str(onnx_target), "--artifact", str(tflite_models["small"]), "--reference",
                 str(tflite_models["tiny"])]) == 2  # fmt: skip
    assert "must be a .onnx file for runtime onnxruntime" in capsys.readouterr().err
    assert _bench(target, tflite_models["tiny"]) == 2
    assert "no --artifact given" in capsys.readouterr().err
    assert main(["bench", "--target", "no-such-target", "--artifact", "x.tflite"]) == 2
    assert "unknown target 'no-such-target'" in capsys.readouterr().err


def test_parse_models() -> None:
    assert parse_models(["a/b/net.tflite", "pruned=x/net.tflite"]) == {
        "net": Path("a/b/net.tflite"),
        "pruned": Path("x/net.tflite"),
    }
    with pytest.raises(EdgepruneError, match="name 'net' given twice"):
        parse_models(["a/net.tflite", "b/net.tflite"])


def test_bench_on_remote_board(target, tflite_models, sshd, tmp_path) -> None:
    out = tmp_path / "remote" / "tinyboard.json"
    code = _bench(
        target, tflite_models["tiny"], "--artifact", str(tflite_models["small"]), "--out", str(out.parent),
        "--remote", f"{sshd.user}@{sshd.host}:{sshd.port}", "--remote-key", str(sshd.key_file),
        "--remote-python", sys.executable, "--known-hosts", str(sshd.known_hosts),
        "--remote-workdir", str(sshd.folder / "cli-board"),
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["remote"]["port"] == sshd.port
    small = result["models"]["small"]
    assert small["size_bytes"] == tflite_models["small"].stat().st_size and small["ratio"] > 0
    assert len(small["ratios"]) == 3


@pytest.mark.slow
def test_bench_default_ladder_keeps_the_baseline_pairing(target, tflite_models, tmp_path, monkeypatch, capsys) -> None:
    """No --reference: the built-in ladder is exported once (~30 s) and each model paired with its nearest rung."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "ladder"))
    baseline, out = tmp_path / "baseline.json", tmp_path / "result" / "tinyboard.json"
    models = ["--artifact", str(tflite_models["small"]), "--artifact", str(tflite_models["big"])]
    args = ["bench", "--target", str(target), "--repeats", "2", "--runs", "40", "--baseline", str(baseline),
            "--out", str(out.parent), *models]  # fmt: skip
    assert main([*args, "--update-baseline"]) == 0
    saved = json.loads(baseline.read_text())
    assert saved["reference"]["name"] == LADDER and saved["reference"]["rungs"] == [r.name for r in RUNGS]
    assert len(list((tmp_path / "ladder").glob("reference-*.tflite"))) == len(RUNGS)
    pairing = baseline_rungs(saved)
    assert set(pairing) == {"small", "big"} and set(pairing.values()) <= {r.name for r in RUNGS}
    assert main([*args, "--force"]) == 0
    result = json.loads(out.read_text())
    assert baseline_rungs(result) == pairing and result["gate"]["passed"] is True
    assert pairing["small"].split("/")[-1] in capsys.readouterr().out  # the table names each model's rung
