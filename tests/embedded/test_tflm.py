"""TFLM runs an int8 file in a child process: outputs within a rounding step of LiteRT's reference kernels, the
arena its recording allocator reports, and a refused operator as one line. The refusal of a layer whose activations
vanish (as in a randomly initialized mobilenet_v2) is reproduced, and edgeprune's quantization no longer makes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.config import TflmConfig
from edgeprune.embedded.records import TflmCheck
from edgeprune.embedded.tflm import TflmRefusal, run_tflm
from edgeprune.embedded.verify import check_on_tflm

REFUSAL = (
    r"^TFLM refuses vanishing_unrelaxed.tflite: DEPTHWISE_CONV_2D \(number \d+\) failed to prepare:"
    r" no_integer_overflow_from_quantization was not true \(tensorflow/lite/micro/kernels/kernel_util.cc:\d+\)$"
)


def test_tflm_matches_litert_bit_for_bit(int8_file: Path, digits) -> None:
    from edgeprune.data import take

    x, y = take(digits.val, 100)
    check = check_on_tflm(int8_file, x, y, TflmConfig(verify=True, samples=100))
    assert check.samples == 100 and check.top1_agreement == 100.0
    assert check.identical >= 90.0 and check.max_abs_diff <= 1  # LiteRT's reference kernels: one rounding step
    assert check.arena_bytes == check.arena_head_bytes + check.arena_tail_bytes > 0
    assert check.model_bytes == int8_file.stat().st_size and check.tflm
    assert 50.0 < check.metric <= 100.0  # the task's top-1 of TFLM's own outputs on those labels
    assert TflmCheck.from_dict(check.to_dict()) == check


def test_arena_grows_with_the_activations(int8_file: Path) -> None:
    """The arena's head is the planned activation memory: the same file always reports the same bytes."""
    x = np.zeros((2, 1, 8, 8), np.int8)
    first, second = run_tflm(int8_file, x), run_tflm(int8_file, x[:1])
    assert first.outputs.shape == (2, 10) and second.outputs.shape == (1, 10)
    assert first.arena_bytes == second.arena_bytes and first.arena_head_bytes >= 8 * 8 * 8  # stem output, int8


class Vanishing(nn.Module):
    """conv -> ReLU6 -> depthwise conv whose weights are ~1e-9 -> ReLU6 -> Linear: the depthwise output is
    calibrated at a range of ~1e-8, as the deep layers of a randomly initialized mobilenet_v2 are."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.act = nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.act2 = nn.ReLU6()
        self.fc = nn.Linear(8 * 8 * 8, 10)
        with torch.no_grad():
            self.dw.weight.mul_(1e-9)
            self.dw.bias.fill_(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.act2(self.dw(self.act(self.conv(x)))), 1))


def _quantized(tmp_path: Path, relax: bool) -> tuple[Path, dict]:
    from edgeprune.export.quantize import quantize_tflite
    from edgeprune.export.tflite import convert_float

    torch.manual_seed(0)
    model = Vanishing().eval()
    x = torch.randn(16, 1, 8, 8)
    data, params = quantize_tflite(convert_float(model, x[:1]), "int8", x.numpy(), "int8", relax_clamps=relax)
    path = tmp_path / f"vanishing_{'relaxed' if relax else 'unrelaxed'}.tflite"
    path.write_bytes(data)
    return path, params


def test_vanishing_activations_refusal_is_reproduced_and_fixed(tmp_path: Path) -> None:
    raw, _ = _quantized(tmp_path, relax=False)
    x = np.zeros((1, 1, 8, 8), np.int8)
    with pytest.raises(TflmRefusal, match=REFUSAL):
        run_tflm(raw, x)
    fixed, params = _quantized(tmp_path, relax=True)
    relaxed = params["relaxed_clamps"]
    assert [(c["op"], c["before"], c["after"]) for c in relaxed] == [("DEPTHWISE_CONV_2D", "RELU6", "RELU")]
    assert relaxed[0]["scale"] * 255 < 1e-6  # the bound 6 is far out of the output's reach
    check = check_on_tflm(fixed, torch.randn(8, 1, 8, 8), None, TflmConfig(verify=True, samples=8))
    assert check.max_abs_diff <= 1
    # LiteRT's default (XNNPACK) kernels accept both and compute exactly the same with and without the bound
    from edgeprune.export.artifact import Artifact

    inputs = torch.randn(8, 1, 8, 8).numpy()
    before, after = Artifact(raw, "litert", "int8"), Artifact(fixed, "litert", "int8")
    assert np.array_equal(before.run_batch(inputs), after.run_batch(inputs))
