"""Issue 24, item B: a user trains on torchvision's ImageFolder (whose loader converts every image to RGB) on a folder
of grayscale PNGs, outside edgeprune; edgeprune measures the user's own accuracy and deploys it with no extra flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from edgeprune.baseline import load_baseline
from edgeprune.data import load_data
from edgeprune.task import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "byo"
MODEL = f"{EXAMPLES / 'usernet.py'}:make"


def _train_outside(folder: Path, weights: Path, epochs: int = 3) -> float:
    """What the user did: ImageFolder with its default loader and ToTensor only, their CNN on 3 channels."""
    from torchvision import datasets, transforms

    sys.path.insert(0, str(EXAMPLES))
    try:
        from usernet import make
    finally:
        sys.path.remove(str(EXAMPLES))
    torch.manual_seed(0)
    train_set = datasets.ImageFolder(str(folder / "train"), transforms.ToTensor())
    val_set = datasets.ImageFolder(str(folder / "val"), transforms.ToTensor())
    assert train_set[0][0].shape[0] == 3  # gray PNGs, 3 channels: ImageFolder's loader converts to RGB
    model = make(num_classes=len(train_set.classes), in_channels=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    torch.save(model.state_dict(), weights)
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in DataLoader(val_set, batch_size=256):
            right += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * right / total


@pytest.fixture(scope="module")
def rgb_trained(digits_png_folder, tmp_path_factory) -> tuple[Path, float]:
    weights = tmp_path_factory.mktemp("rgb") / "usernet_rgb.pt"
    accuracy = _train_outside(digits_png_folder, weights)
    assert accuracy > 80.0
    return weights, accuracy


def test_users_imagefolder_accuracy_without_flags(digits_png_folder, rgb_trained) -> None:
    weights, user_accuracy = rgb_trained
    data = load_data(f"imagefolder:{digits_png_folder}")  # no preprocessing, no --channels
    base = load_baseline(MODEL, data, checkpoint=weights)
    assert data.input_shape == (3, 16, 16) and base.spec.in_channels == 3
    assert evaluate(base.model, data.val)[0] == pytest.approx(user_accuracy, abs=0.1)


TARGET = """
name = "rgb"
[prune]
macs = 0.5
round_to = 8
[finetune]
epochs = 1
[export]
format = "onnx"
parity_samples = 64
[bench]
warmup = 2
runs = 10
"""


@pytest.mark.slow
def test_deploy_an_imagefolder_model_with_no_extra_flag(digits_png_folder, rgb_trained, tmp_path) -> None:
    weights, user_accuracy = rgb_trained
    (tmp_path / "rgb.toml").write_text(TARGET)
    args = ["deploy", "--target", str(tmp_path / "rgb.toml"), "--model", MODEL, "--checkpoint", str(weights),
            "--data", f"imagefolder:{digits_png_folder}", "--out", str(tmp_path / "out")]  # fmt: skip
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "EDGEPRUNE_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, "-m", "edgeprune", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["baseline"]["metric"] == pytest.approx(user_accuracy, abs=0.1)
    assert report["data"]["input_shape"] == [3, 16, 16] and report["data"]["preprocessing"]["channels"] == 3
    assert 0.95 * 0.5 <= report["prune"]["reached"] <= 0.5
