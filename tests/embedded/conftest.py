"""A briefly trained default model on the digits, exported once as full-integer int8 (int8 and float I/O), shared by
the Vela and TFLM tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def small_model(digits):
    """EdgeNet (width 8) trained for 2 epochs on the 8x8 digits (the int8 check needs a model that has learned)."""
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    model = EdgeNet(num_classes=10, in_channels=1, width=8)
    fit(model, digits, FinetuneConfig(epochs=2, lr=4e-3, distill=False, seed=0), description="train")
    return model.eval()


def _export(model, digits, folder: Path, io_dtype: str) -> Path:
    from edgeprune.data import take
    from edgeprune.export import export_model

    calibration, _ = take(digits.select, 100)
    samples, labels = take(digits.val, 200)
    artifact = export_model(
        model, digits.example(), folder / f"small_int8_{io_dtype}.tflite", "tflite", "int8",
        samples=samples, labels=labels, calibration=calibration, io_dtype=io_dtype,
        preprocessing=digits.preprocessing.to_dict(),
    )  # fmt: skip
    return artifact.path


@pytest.fixture(scope="session")
def int8_file(small_model, digits, tmp_path_factory) -> Path:
    """The small model as int8 with int8 input and output (what an NPU or MCU target ships)."""
    return _export(small_model, digits, tmp_path_factory.mktemp("int8"), "int8")


@pytest.fixture(scope="session")
def float_io_file(small_model, digits, tmp_path_factory) -> Path:
    """The same with float32 input and output (QUANTIZE / DEQUANTIZE at the edges)."""
    return _export(small_model, digits, tmp_path_factory.mktemp("float_io"), "float")
