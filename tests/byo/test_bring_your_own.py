"""A user's own model file, trained outside edgeprune with its own normalization on a folder of PNGs: edgeprune
must measure the user's own accuracy, deploy it to a verified TFLite, and reuse its cache from any folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprune.baseline import load_baseline
from edgeprune.data import Preprocessing, load_data
from edgeprune.task import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "byo"
MODEL = f"{EXAMPLES / 'usernet.py'}:make"
USER = Preprocessing(mean=(0.2,), std=(0.35,), channels=1, source="user")


def _user_training():
    spec = importlib.util.spec_from_file_location("byo_train", EXAMPLES / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(digits_png_folder, tmp_path_factory) -> tuple[Path, float]:
    weights = tmp_path_factory.mktemp("user") / "usernet.pt"
    accuracy = _user_training().train(digits_png_folder, weights, epochs=3)
    assert accuracy > 80.0  # the user's model really learned
    return weights, accuracy


def test_edgeprune_measures_the_users_own_accuracy(digits_png_folder, trained) -> None:
    weights, user_accuracy = trained
    data = load_data(f"imagefolder:{digits_png_folder}", USER)
    base = load_baseline(MODEL, data, checkpoint=weights)
    assert evaluate(base.model, data.val)[0] == pytest.approx(user_accuracy, abs=0.1)
    # without the user's preprocessing the numbers are wrong, so edgeprune never invents one: it records what it used
    raw = load_data(f"imagefolder:{digits_png_folder}", Preprocessing(channels=1, source="user"))
    assert raw.preprocessing.mean == () and abs(evaluate(base.model, raw.val)[0] - user_accuracy) > 1.0


def test_cache_is_found_from_another_working_directory(digits_png_folder, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    data = load_data(f"imagefolder:{digits_png_folder}", USER)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = load_baseline(MODEL, data, train_epochs=1)
    monkeypatch.chdir(tmp_path / "b")
    second = load_baseline(MODEL, data, train_epochs=1)
    assert (first.source, second.source) == ("trained", "cache") and first.checkpoint == second.checkpoint


TARGET = """
name = "byo"
[prune]
macs = 0.5
round_to = 8
[finetune]
epochs = 2
[export]
format = "tflite"
[bench]
warmup = 5
runs = 30
"""


@pytest.mark.slow
def test_deploy_a_users_model_on_a_users_image_folder(digits_png_folder, trained, tmp_path) -> None:
    weights, user_accuracy = trained
    (tmp_path / "byo.toml").write_text(TARGET)
    args = ["deploy", "--target", str(tmp_path / "byo.toml"), "--model", MODEL, "--checkpoint", str(weights),
            "--data", f"imagefolder:{digits_png_folder}", "--channels", "1", "--mean", "0.2", "--std", "0.35",
            "--out", str(tmp_path / "out")]  # fmt: skip
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "EDGEPRUNE_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, "-m", "edgeprune", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["baseline"]["metric"] == pytest.approx(user_accuracy, abs=0.1)
    assert 0.95 * 0.5 <= report["prune"]["reached"] <= 0.5
    assert report["data"]["preprocessing"]["mean"] == [0.2] and report["data"]["preprocessing"]["source"] == "user"
    artifact = tmp_path / "out" / "pruned_fp32.tflite"
    meta = json.loads(Path(f"{artifact}.json").read_text())
    assert meta["verification"]["rel_err"] <= 1e-4 and meta["preprocessing"]["std"] == [0.35]
