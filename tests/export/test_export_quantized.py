"""fp16 and int8 TFLite on the trained default model: parity, accuracy, metadata, NHWC and int8 i/o."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.data import take
from edgeprune.errors import EdgepruneError, ParityError
from edgeprune.export import check_int8_accuracy, export_model, load_artifact
from edgeprune.task import evaluate


def _export(model, digits, path: Path, fmt: str, precision: str, **options):
    return export_model(
        model,
        take(digits.val, 1)[0],
        path,
        fmt,
        precision,
        samples=take(digits.val)[0],
        labels=take(digits.val)[1],
        model_hash="m" * 64,
        plan_hash="p" * 64,
        preprocessing=digits.preprocessing.to_dict(),
        **options,
    )


def test_default_model_exports_everywhere_and_passes(tmp_path: Path, trained, digits):
    acc, _ = evaluate(trained, digits.val)
    assert acc > 85.0
    calib = take(digits.select, 100)[0]
    cases = [
        ("onnx", "fp32", {}),
        ("tflite", "fp32", {}),
        ("tflite", "fp16", {}),
        ("tflite", "int8", {"calibration": calib}),
    ]
    sizes = {}
    for fmt, precision, options in cases:
        art = _export(trained, digits, tmp_path / f"m_{precision}.{fmt}", fmt, precision, **options)
        v = art.metadata["verification"]
        assert v["samples"] == len(digits.val)
        if precision == "int8":
            assert v["int8"]["passed"] and v["int8"]["accuracy_drop"] <= 1.0 and v["int8"]["top1_agreement"] >= 97.0
            assert v["int8"]["reference_accuracy"] == pytest.approx(acc, abs=1e-3)
        else:
            assert v["rel_err"] <= {"fp32": 1e-4, "fp16": 1e-2}[precision]
        sizes[(fmt, precision)] = art.size_bytes
    assert sizes[("tflite", "int8")] < sizes[("tflite", "fp16")] < sizes[("tflite", "fp32")]


@pytest.fixture(scope="module")
def int8_artifact(tmp_path_factory, trained, digits):
    path = tmp_path_factory.mktemp("int8") / "q.tflite"
    return _export(trained, digits, path, "tflite", "int8", calibration=take(digits.select, 64)[0])


def test_int8_metadata_records_quantization(int8_artifact, digits):
    art = int8_artifact
    meta = json.loads(art.path.with_name("q.tflite.json").read_text())
    assert meta["precision"] == "int8" and meta["format"] == "tflite" and meta["runtime"] == "litert"
    assert meta["source"] == {
        "model_hash": "m" * 64,
        "plan_hash": "p" * 64,
        "model_class": meta["source"]["model_class"],
    }
    assert meta["input_shape"] == [1, 1, 8, 8] and meta["input_layout"] == "NCHW"
    assert meta["preprocessing"]["mean"] == pytest.approx(list(digits.preprocessing.mean))
    q = meta["quantization"]
    assert q["calibration_samples"] == 64 and q["io_dtype"] == "float"
    assert q["io"]["input"]["dtype"] == "float32" and q["io"]["input_quantized"]["dtype"] == "int8"
    assert q["io"]["input_quantized"]["scale"] > 0
    for pkg in ("torch", "litert-torch", "ai-edge-litert", "onnxruntime"):
        assert meta["versions"][pkg] not in ("", "missing")
    assert meta["size_bytes"] == art.size_bytes and len(meta["sha256"]) == 64


def test_int8_io_and_nhwc_input(tmp_path: Path, trained, digits):
    art = _export(
        trained, digits, tmp_path / "q.tflite", "tflite", "int8",
        calibration=take(digits.select, 64)[0], io_dtype="int8", nhwc=True,
    )  # fmt: skip
    reloaded = load_artifact(art.path)
    shape, dtype = reloaded.input_details()
    assert shape == (1, 8, 8, 1) and dtype == np.int8 and reloaded.input_layout == "NHWC"
    io = art.metadata["quantization"]["io"]
    assert io["output"]["dtype"] == "int8" and io["output"]["scale"] > 0
    with torch.no_grad():
        ref = trained(take(digits.val, 32)[0]).argmax(1).numpy()
    assert np.mean(reloaded.run_batch(take(digits.val, 32)[0].numpy()).argmax(1) == ref) >= 0.9


def test_fp16_nhwc_matches_torch(tmp_path: Path, trained, digits):
    art = _export(trained, digits, tmp_path / "h.tflite", "tflite", "fp16", nhwc=True)
    assert art.input_details()[0] == (1, 8, 8, 1)
    assert art.metadata["verification"]["rel_err"] <= 1e-2
    assert art.metadata["quantization"]["scheme"] == "float16 weights"


def test_int8_needs_calibration(tmp_path: Path, trained, digits):
    with pytest.raises(EdgepruneError, match="int8 export needs calibration samples"):
        export_model(trained, take(digits.val, 1)[0], tmp_path / "q.tflite", "tflite", "int8")
    with pytest.raises(EdgepruneError, match="io_dtype 'int8' applies to int8 only"):
        export_model(trained, take(digits.val, 1)[0], tmp_path / "f.tflite", "tflite", "fp32", io_dtype="int8")
    assert not list(tmp_path.iterdir())


def test_int8_accuracy_check_fails_with_numbers(int8_artifact, trained, digits):
    art = int8_artifact
    report = check_int8_accuracy(art, trained, *take(digits.val))
    assert report.passed and report.samples == len(digits.val)
    with pytest.raises(ParityError, match=r"top-1 .*% vs fp32 .*% \(drop .* pt, limit -1.0 pt\), top-1 agreement"):
        check_int8_accuracy(art, trained, *take(digits.val), max_drop=-1.0)
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(ParityError, match=r"agreement with fp32 \d+\.\d% \(limit >= 97.0%\)"):
        check_int8_accuracy(art, other, take(digits.val)[0])
