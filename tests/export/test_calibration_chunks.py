"""int8 calibration runs in chunks so a progress bar can move: the quantized model must be byte-identical to one
calibration call over every sample (the quantizer resumes its per-sample moving average from the last chunk)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.export import quantize
from edgeprune.export.tflite import convert_float


@pytest.fixture(scope="module")
def float_model() -> bytes:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)).eval()
    return convert_float(model, torch.randn(1, 1, 8, 8))


def test_chunked_calibration_is_byte_identical(float_model, monkeypatch) -> None:
    calibration = np.random.default_rng(0).standard_normal((60, 1, 8, 8)).astype(np.float32)
    monkeypatch.setattr(quantize, "CALIBRATION_CHUNK", 1000)
    whole, whole_params = quantize.quantize_tflite(float_model, "int8", calibration)
    monkeypatch.setattr(quantize, "CALIBRATION_CHUNK", 7)  # 9 chunks, the last one short
    chunked, chunked_params = quantize.quantize_tflite(float_model, "int8", calibration)
    assert chunked == whole
    assert chunked_params["io"] == whole_params["io"] and chunked_params["calibration_samples"] == 60
