"""Sparse weights in TFLite's encoding: checked against TFLite's own converter and on the real runtime."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import take
from edgeprune.export import export_model, load_artifact
from edgeprune.export.sparse_encoding import decode, encode, smallest
from edgeprune.export.sparse_tflite import INT8_FC_NOTE, encode_sparse_weights
from edgeprune.finetune import evaluate, fit
from edgeprune.sparsity import GradualSparsity, SparsityOptions


@pytest.mark.parametrize(
    "shape,block",
    [
        ((8, 3, 3, 12), (1, 1)),
        ((8, 1, 1, 12), (4, 1)),
        ((8, 3, 3, 12), (1, 4)),
        ((6, 10), (1, 1)),
        ((1, 3, 3, 8), (1, 4)),
    ],
)
def test_encoding_matches_tflite_format_converter(shape: tuple, block: tuple) -> None:
    from ai_edge_litert import format_converter_wrapper_pybind11 as fc

    rng = np.random.default_rng(0)
    dense = rng.standard_normal(shape).astype(np.float32)
    dense[rng.random(shape) < 0.7] = 0
    layout = encode(dense, block)
    assert np.array_equal(decode(layout), dense)
    kinds = fc.TfLiteDimensionType
    formats = [kinds.TF_LITE_DIM_DENSE] * (len(shape) - 1) + [kinds.TF_LITE_DIM_SPARSE_CSR]
    formats += [kinds.TF_LITE_DIM_DENSE] * len(layout.block_map)
    block_size = [layout.dims[-1].size] if layout.block_map else []
    tflite = fc.FormatConverterFp32(list(shape), layout.traversal_order, formats, block_size, layout.block_map)
    tflite.DenseToSparse(dense.reshape(-1))
    ours = []
    for d in layout.dims:
        ours += [d.segments.tolist(), d.indices.tolist()] if d.sparse else [[d.size], []]
    assert [list(map(int, m)) for m in tflite.GetDimMetadata()] == ours
    assert np.array_equal(np.array(tflite.GetData(), dtype=np.float32), layout.values)


def test_block_sparse_weights_pick_a_block_encoding() -> None:
    dense = np.zeros((16, 32), dtype=np.float32)
    dense[4:8, 8] = 1.0  # one 4x1 block (4 outputs x 1 input)
    assert smallest(dense).block_map == [0]


@pytest.fixture(scope="module")
def sparse80(trained, digits) -> nn.Module:
    """The trained digits EdgeNet with 80% of every weight zeroed by magnitude at once, fine-tuned 2 epochs."""
    model = copy.deepcopy(trained)
    cfg = FinetuneConfig(epochs=2, lr=4e-3, distill=False, seed=0)
    fit(model, digits, cfg, callback=GradualSparsity(model, SparsityOptions(0.8, ramp=(0.0, 0.0)), total_steps=1))
    assert evaluate(model, digits.val)[0] > 80.0
    return model.eval()


def _ops(path) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    return [op["op_name"] for op in interp._get_ops_details()]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_sparse_float_export_passes_parity_and_shrinks(sparse80, digits, tmp_path, precision: str) -> None:
    x = take(digits.val, 32)[0]
    dense = export_model(sparse80, x[:1], tmp_path / "dense.tflite", "tflite", precision, samples=x)
    sparse = export_model(sparse80, x[:1], tmp_path / "sparse.tflite", "tflite", precision, samples=x, sparse=True)
    report = sparse.metadata["options"]["sparse_weights"]
    assert len(report["encoded"]) >= 6 and report["sparse_bytes"] < 0.4 * report["dense_bytes"]
    assert sparse.metadata["verification"]["rel_err"] <= sparse.metadata["verification"]["rel_err_bound"]
    assert sparse.metadata["size_bytes"] < 0.6 * dense.metadata["size_bytes"]
    assert 0 < sparse.metadata["gzip_size_bytes"] < sparse.metadata["size_bytes"]
    assert _ops(sparse.path).count("DENSIFY") == len(report["encoded"])
    reloaded = load_artifact(sparse.path)
    assert np.allclose(reloaded.run_batch(x[:4].numpy()), dense.run_batch(x[:4].numpy()), atol=1e-5)


def test_int8_sparse_export_keeps_fc_dense_and_passes(sparse80, digits, tmp_path) -> None:
    x, y = take(digits.val, 200)
    art = export_model(
        sparse80, x[:1], tmp_path / "int8.tflite", "tflite", "int8",
        samples=x, labels=y, calibration=take(digits.select, 64)[0], sparse=True,
    )  # fmt: skip
    report = art.metadata["options"]["sparse_weights"]
    assert report["encoded"] and all(e["dtype"] == "int8" for e in report["encoded"])
    assert INT8_FC_NOTE in report["dense"].values()
    assert art.metadata["verification"]["int8"]["passed"]


def test_dense_weights_are_left_alone(trained, digits) -> None:
    from edgeprune.export.tflite import convert_float

    data = convert_float(trained, take(digits.val, 1)[0])
    same, report = encode_sparse_weights(data)
    assert same == data and not report.encoded and report.dense


def _with_external_buffers(data: bytes) -> bytes:
    """The same model with every weight buffer stored after the flatbuffer (``offset`` > 1), as litert-torch
    writes some models."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    payloads = {i: bytes(np.asarray(b.data, dtype=np.uint8)) for i, b in enumerate(model.buffers) if b.data is not None}
    offsets = dict.fromkeys(payloads, 2)  # placeholders: fixed-size fields, so the flatbuffer length is stable
    for _ in range(2):
        for i, b in enumerate(model.buffers):
            if i in payloads:
                b.data, b.offset, b.size = None, offsets[i], len(payloads[i])
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        head = bytes(builder.Output())
        position = -(-len(head) // 16) * 16
        for i, payload in payloads.items():
            offsets[i] = position
            position = -(-(position + len(payload)) // 16) * 16
    out = bytearray(head)
    for i, payload in payloads.items():
        out += bytes(offsets[i] - len(out)) + payload
    return bytes(out)


def test_buffers_after_the_flatbuffer_are_read(sparse80, digits) -> None:
    from edgeprune.export.tflite import convert_float

    x = take(digits.val, 8)[0]
    external = _with_external_buffers(convert_float(sparse80, x[:1]))
    encoded, report = encode_sparse_weights(external)
    assert report.encoded and len(encoded) < 0.6 * len(external)
    with torch.no_grad():
        ref = sparse80(x).numpy()
    for data in (external, encoded):  # both load and compute the model on the real runtime
        assert np.abs(_run(data, x.numpy()) - ref).max() < 1e-4


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i : i + 1])
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(rows)
