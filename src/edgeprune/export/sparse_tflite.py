"""Store a .tflite's sparse weights in TFLite's sparse encoding, each behind a ``DENSIFY`` op.

For every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED whose constant weight (float32, float16 behind a
DEQUANTIZE, or int8) has at least ``min_sparsity`` zeros, the weight's buffer is replaced by its
nonzeros in the sparse encoding (:mod:`edgeprune.export.sparse_encoding`) and a DENSIFY op, placed first,
rebuilds the dense tensor the op reads. That is the layout the TFLite converter writes for sparse models
and the one XNNPACK recognizes (tensorflow/lite/delegates/xnnpack/README.md, "Sparse Inference").

What the runtimes do with it (measured here, docs/sparsity.md): the file is smaller; at load time the
XNNPACK delegate densifies float32/float16 weights once and sets its sparse-inference hint, but XNNPACK
only runs sparse (NCHW SpMM) kernels on CPUs without AVX (google/XNNPACK src/xnnpack/hardware-config.h,
``xnn_is_chw_compatible_config``), and only for subgraphs that start with a 3x3 stride-2 conv on 3
channels and hold >= 2/3 zeros in their 1x1 convs. int8 DENSIFY is not delegated: the builtin kernel
densifies once and the consuming conv runs on TFLite's own kernels; an int8 FULLY_CONNECTED fed by DENSIFY
makes the XNNPACK delegate fail to prepare the whole model, so int8 FC weights stay dense.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.export.flatbuffer import inline_external_buffers as _inline_buffers
from edgeprune.export.flatbuffer import pack
from edgeprune.export.sparse_encoding import SparseLayout, index_array, smallest

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
DTYPES = {0: np.float32, 1: np.float16, 9: np.int8}  # schema TensorType: FLOAT32, FLOAT16, INT8
MIN_SPARSITY = 0.5
INT8 = 9
INT8_FC_NOTE = "int8 FULLY_CONNECTED fed by DENSIFY makes XNNPACK fail to prepare (ai-edge-litert 2.3.0, measured)"


@dataclass(frozen=True)
class EncodedWeight:
    """One weight tensor stored sparse."""

    tensor: str
    op: str
    shape: list[int]
    dtype: str
    sparsity: float
    block: str
    dense_bytes: int
    sparse_bytes: int


@dataclass
class SparseReport:
    """What :func:`encode_sparse_weights` did: tensors encoded, tensors left dense and why."""

    encoded: list[EncodedWeight] = field(default_factory=list)
    dense: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoded": [asdict(e) for e in self.encoded],
            "dense": dict(self.dense),
            "dense_bytes": sum(e.dense_bytes for e in self.encoded),
            "sparse_bytes": sum(e.sparse_bytes for e in self.encoded),
        }


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _op_names(schema: Any) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _index_vector(schema: Any, values: np.ndarray) -> tuple[int, Any]:
    """(SparseIndexVector union type, table) holding ``values`` in the narrowest integer type."""
    arr = index_array(values)
    kinds = {
        np.dtype(np.uint8): (schema.SparseIndexVector.Uint8Vector, schema.Uint8VectorT),
        np.dtype(np.uint16): (schema.SparseIndexVector.Uint16Vector, schema.Uint16VectorT),
        np.dtype(np.int32): (schema.SparseIndexVector.Int32Vector, schema.Int32VectorT),
    }
    kind, table_type = kinds[arr.dtype]
    table = table_type()
    table.values = arr
    return kind, table


def sparsity_parameters(schema: Any, layout: SparseLayout) -> Any:
    """The schema's ``SparsityParametersT`` for ``layout``."""
    params = schema.SparsityParametersT()
    params.traversalOrder = list(layout.traversal_order)
    params.blockMap = list(layout.block_map) or None
    params.dimMetadata = []
    for d in layout.dims:
        meta = schema.DimensionMetadataT()
        if d.sparse:
            meta.format = schema.DimensionType.SPARSE_CSR
            meta.arraySegmentsType, meta.arraySegments = _index_vector(schema, d.segments)
            meta.arrayIndicesType, meta.arrayIndices = _index_vector(schema, d.indices)
        else:
            meta.format = schema.DimensionType.DENSE
            meta.denseSize = d.size
        params.dimMetadata.append(meta)
    return params


class _Rewriter:
    """One model's rewrite: finds constant weights, encodes them, adds DENSIFY ops."""

    def __init__(self, data: bytes, min_sparsity: float) -> None:
        self.schema = _schema()
        self.model = self.schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        _inline_buffers(self.model, data)
        if self.model.buffers[0].data is not None and len(self.model.buffers[0].data):
            raise EdgepruneError("sparse encoding: buffer 0 is not the empty sentinel the schema requires")
        self.buffer_users: dict[int, int] = {}
        for graph in self.model.subgraphs:
            for t in graph.tensors:
                self.buffer_users[t.buffer] = self.buffer_users.get(t.buffer, 0) + 1
        self.min_sparsity = min_sparsity
        self.names = _op_names(self.schema)
        self.report = SparseReport()
        self._densify_code: int | None = None

    def op_name(self, op: Any) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")

    def densify_code(self) -> int:
        if self._densify_code is None:
            code = self.schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = self.schema.BuiltinOperator.DENSIFY
            code.version = 1
            self.model.operatorCodes.append(code)
            self._densify_code = len(self.model.operatorCodes) - 1
        return self._densify_code

    def constant_of(self, graph: Any, index: int) -> int | None:
        """Tensor holding the constant weight behind input ``index`` (through a DEQUANTIZE for fp16)."""
        tensor = graph.tensors[index]
        if self._data(tensor) is not None:
            return index
        producer = next((op for op in graph.operators if index in list(op.outputs)), None)
        if producer is not None and self.op_name(producer) == "DEQUANTIZE":
            source = int(producer.inputs[0])
            return source if self._data(graph.tensors[source]) is not None else None
        return None

    @staticmethod
    def label(tensor: Any) -> str:
        return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)

    def _data(self, tensor: Any) -> np.ndarray | None:
        buffer = self.model.buffers[tensor.buffer]
        if tensor.buffer == 0 or buffer.data is None or len(buffer.data) == 0 or tensor.sparsity is not None:
            return None
        dtype = DTYPES.get(tensor.type)
        if dtype is None:
            return None
        return np.frombuffer(bytes(np.asarray(buffer.data, dtype=np.uint8)), dtype=dtype).reshape(list(tensor.shape))

    def encode_graph(self, graph: Any) -> None:
        done: set[int] = set()
        densify_ops = []
        for op in graph.operators:
            name = self.op_name(op)
            if name not in WEIGHT_OPS or len(op.inputs) < 2:
                continue
            index = self.constant_of(graph, int(op.inputs[1]))
            if index is None or index in done:
                continue
            if name == "FULLY_CONNECTED" and graph.tensors[index].type == INT8:
                self.report.dense[self.label(graph.tensors[index])] = INT8_FC_NOTE
                continue
            done.add(index)
            densify = self.encode_tensor(graph, index, name)
            if densify is not None:
                densify_ops.append(densify)
        graph.operators = densify_ops + list(graph.operators)

    def encode_tensor(self, graph: Any, index: int, op: str) -> Any:
        """Store tensor ``index`` sparse and return the DENSIFY op producing it (None: left dense)."""
        tensor = graph.tensors[index]
        label = self.label(tensor)
        dense = self._data(tensor)
        sparsity = float((dense == 0).mean())
        if sparsity < self.min_sparsity:
            self.report.dense[label] = f"{sparsity:.1%} zeros < {self.min_sparsity:.0%}"
            return None
        layout = smallest(dense)
        if layout.nbytes() >= dense.nbytes:
            self.report.dense[label] = "the sparse encoding would not be smaller"
            return None
        sparse = self.schema.TensorT()
        sparse.shape, sparse.type, sparse.quantization = list(tensor.shape), tensor.type, tensor.quantization
        sparse.name = f"{label}/sparse"
        sparse.sparsity = sparsity_parameters(self.schema, layout)
        payload = np.frombuffer(layout.values.tobytes(), dtype=np.uint8)
        if self.buffer_users.get(tensor.buffer, 0) == 1:  # reuse the weight's own buffer for the nonzeros
            self.model.buffers[tensor.buffer].data = payload
            sparse.buffer = tensor.buffer
        else:
            buffer = self.schema.BufferT()
            buffer.data = payload
            self.model.buffers.append(buffer)
            sparse.buffer = len(self.model.buffers) - 1
        tensor.buffer = 0  # the dense tensor is now DENSIFY's output (buffer 0 is the empty sentinel)
        graph.tensors.append(sparse)
        densify = self.schema.OperatorT()
        densify.opcodeIndex = self.densify_code()
        densify.inputs, densify.outputs = [len(graph.tensors) - 1], [index]
        densify.builtinOptionsType = self.schema.BuiltinOptions.DensifyOptions
        densify.builtinOptions = self.schema.DensifyOptionsT()
        shape = [int(d) for d in tensor.shape]
        self.report.encoded.append(
            EncodedWeight(label, op, shape, dense.dtype.name, sparsity, layout.block, dense.nbytes, layout.nbytes())
        )
        return densify

    def output(self) -> bytes:
        return pack(self.model)


def encode_sparse_weights(data: bytes, min_sparsity: float = MIN_SPARSITY) -> tuple[bytes, SparseReport]:
    """Rewrite the flatbuffer ``data`` with sparse weights behind DENSIFY ops; returns (new bytes, report)."""
    if not 0.0 < min_sparsity <= 1.0:
        raise EdgepruneError(f"sparse encoding: min_sparsity {min_sparsity} must lie in (0, 1]")
    rewriter = _Rewriter(data, min_sparsity)
    for graph in rewriter.model.subgraphs:
        rewriter.encode_graph(graph)
    if not rewriter.report.encoded:
        return data, rewriter.report
    return rewriter.output(), rewriter.report
