"""A pruned network's int8 file made by slicing the unpruned one, in a second instead of a re-conversion.

What Vela's cycles depend on is the graph's shapes and the int8 weights it streams. Both follow from the unpruned
int8 file: pruning keeps whole output channels of a layer, and per-channel int8 weights (with their per-channel
scales and int32 biases) of the kept channels are exactly those of the kept channels alone; dropping input
channels only drops weight columns. So a plan's network is the unpruned flatbuffer with every constant sliced to
the kept channels and every activation shape shrunk (activation scales stay those calibrated on the unpruned
network, which changes no shape and no weight). The sliced file is for Vela's estimate while planning, never
shipped: the deploy exports the fine-tuned model again.

Channels are followed through the graph in order (NHWC: the last axis): a conv or fully-connected layer keeps the
output indices its group keeps (``out_keep``: operator index -> kept indices, None for all), a depthwise conv and
every channel-wise operator pass their input's kept indices on, a flatten maps them to its positions. An operator
this module cannot follow with a cut channel (a transpose or concatenation of channels, a grouped conv, a depth
multiplier) raises :class:`SliceError`; the caller converts the pruned model instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.export.flatbuffer import inline_external_buffers, pack

DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
CHANNELWISE = {
    "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "PRELU", "QUANTIZE",
    "DEQUANTIZE", "PAD", "PADV2", "MEAN", "SUM", "REDUCE_MAX", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SQUEEZE", "SOFTMAX", "ABS", "NEG", "EXP", "SQRT", "RSQRT",
}  # fmt: skip
ELEMENTWISE = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "DIV"}

SLICER_VERSION = 1  # part of the cached file names: a changed slicer never reads an older file
Keep = np.ndarray | None
OutKeep = Callable[[int, str], Keep]  # (operator index, output tensor name) -> kept output indices


class SliceError(EdgepruneError):
    """The graph holds an operator whose channels this slicer cannot follow."""


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


class TfliteGraph:
    """The unpacked model, its first subgraph, and constant access that never edits a shared buffer."""

    def __init__(self, data: bytes) -> None:
        self.schema = _schema()
        self.model = self.schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        inline_external_buffers(self.model, data)
        self.graph = self.model.subgraphs[0]
        self.users: dict[int, int] = {}
        for t in self.graph.tensors:
            self.users[t.buffer] = self.users.get(t.buffer, 0) + 1
        names = {v: k for k, v in vars(self.schema.BuiltinOperator).items() if not k.startswith("_")}
        self.original: dict[int, list[int]] = {}  # tensor -> its shape before slicing
        self.op_names = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "?") for c in self.model.operatorCodes]

    def tensor(self, index: int) -> Any:
        return self.graph.tensors[index]

    def is_const(self, index: int) -> bool:
        data = self.model.buffers[self.tensor(index).buffer].data
        return data is not None and len(data) > 0

    def array(self, index: int) -> np.ndarray:
        t = self.tensor(index)
        raw = np.asarray(self.model.buffers[t.buffer].data, dtype=np.uint8)
        return np.frombuffer(raw.tobytes(), dtype=DTYPES[t.type]).reshape([int(d) for d in t.shape])

    def set_array(self, index: int, values: np.ndarray) -> None:
        t = self.tensor(index)
        buffer = self.schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
        if self.users.get(t.buffer, 0) > 1:  # shared: give this tensor its own copy
            self.users[t.buffer] -= 1
            self.model.buffers.append(buffer)
            t.buffer = len(self.model.buffers) - 1
            self.users[t.buffer] = 1
        else:
            self.model.buffers[t.buffer] = buffer
        self.set_shape(index, list(values.shape))

    def set_shape(self, index: int, shape: list[int]) -> None:
        t = self.tensor(index)
        self.original.setdefault(index, [int(d) for d in t.shape])
        t.shape = np.array(shape, dtype=np.int32)
        if t.shapeSignature is not None and len(t.shapeSignature) == len(shape):
            signature = zip(t.shapeSignature, shape, strict=True)
            t.shapeSignature = np.array([-1 if s == -1 else d for s, d in signature], np.int32)

    def slice_quantization(self, index: int, keep: np.ndarray, axis: int) -> None:
        q = self.tensor(index).quantization
        if q is None or q.scale is None or len(q.scale) <= 1:
            return
        if q.quantizedDimension != axis % len(self.tensor(index).shape):
            raise SliceError(f"tensor {self.tensor(index).name!r}: per-channel scales on another axis")
        q.scale = np.asarray(q.scale)[keep]
        if q.zeroPoint is not None and len(q.zeroPoint) > 1:
            q.zeroPoint = np.asarray(q.zeroPoint)[keep]

    def slice_const(self, index: int, keep: np.ndarray, axis: int, quantized_axis: bool = False) -> None:
        values = np.take(self.array(index), keep, axis=axis)
        self.set_array(index, values)
        if quantized_axis:
            self.slice_quantization(index, keep, axis)


def _last(graph: TfliteGraph, index: int) -> int:
    """The tensor's channel count before any slicing."""
    shape = graph.original.get(index) or [int(d) for d in graph.tensor(index).shape]
    return int(shape[-1])


def slice_tflite(data: bytes, out_keep: OutKeep) -> bytes:
    """``data`` (an int8 ``.tflite``) with every layer cut to ``out_keep`` and everything downstream following."""
    g = TfliteGraph(data)
    kept: dict[int, Keep] = {}

    def follow(op_index: int, op: Any, name: str) -> None:
        x = op.inputs[0]
        kin = kept.get(x)
        out = op.outputs[0]
        out_name = g.tensor(out).name.decode(errors="replace") if g.tensor(out).name else ""
        if name in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"):
            kept[out] = _layer(g, op, name, kin, out_keep(op_index, out_name))
        elif name in CHANNELWISE:
            kept[out] = kin
        elif name in ELEMENTWISE:
            kept[out] = _elementwise(g, op, kept)
        elif name == "RESHAPE":
            kept[out] = _reshape(g, op, kin)
        elif name == "CONCATENATION":
            kept[out] = _concat(g, op, kept)
        elif kin is not None or any(kept.get(i) is not None for i in op.inputs if i >= 0):
            raise SliceError(f"operator {op_index} ({name}) reads cut channels; the slicer cannot follow it")
        else:
            kept[out] = None
        if kept[out] is not None and name not in ("RESHAPE", "CONCATENATION"):
            shape = [int(d) for d in g.tensor(out).shape]
            g.set_shape(out, [*shape[:-1], len(kept[out])])

    for i, op in enumerate(g.graph.operators):
        follow(i, op, g.op_names[op.opcodeIndex])
    return pack(g.model)


def _layer(g: TfliteGraph, op: Any, name: str, kin: Keep, kout: Keep) -> Keep:
    """Slice a conv / depthwise / fully-connected layer's weights and bias; returns its output's kept indices."""
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    shape = [int(d) for d in g.tensor(w).shape]
    if name == "DEPTHWISE_CONV_2D":
        channels = _last(g, x)
        if shape[-1] == channels:  # one filter per channel: the output keeps the input's channels
            keep = kin
        elif channels == 1:  # a conv on a one-channel input, written as depthwise with a multiplier
            keep = kout
            if keep is not None and op.builtinOptions is not None:
                op.builtinOptions.depthMultiplier = len(keep)
        elif kin is None and kout is None:
            return None
        else:
            raise SliceError("a depthwise conv with a channel multiplier cannot be sliced")
        if keep is not None:
            g.slice_const(w, keep, 3, quantized_axis=True)
            if bias is not None:
                g.slice_const(bias, keep, 0, quantized_axis=True)
        return keep
    if name == "CONV_2D" and shape[-1] != _last(g, x):
        if kin is not None or kout is not None:
            raise SliceError("a grouped conv cannot be sliced here")
        return None
    if kin is not None:
        g.slice_const(w, kin, len(shape) - 1)
    if kout is not None:
        g.slice_const(w, kout, 0, quantized_axis=True)
        if bias is not None:
            g.slice_const(bias, kout, 0, quantized_axis=True)
    return kout


def _elementwise(g: TfliteGraph, op: Any, kept: Mapping[int, Keep]) -> Keep:
    """Inputs must keep the same channels; a constant broadcast along the channels is sliced with them."""
    keeps = [kept.get(i) for i in op.inputs if i >= 0 and not g.is_const(i)]
    cut = [k for k in keeps if k is not None]
    if not cut:
        return None
    if any(k is None for k in keeps) or any(not np.array_equal(cut[0], k) for k in cut[1:]):
        raise SliceError("an elementwise operator joins tensors that keep different channels")
    for i in op.inputs:
        shape = g.tensor(i).shape if i >= 0 else None
        if shape is not None and len(shape) and int(shape[-1]) > 1 and g.is_const(i):
            g.slice_const(i, cut[0], len(shape) - 1)
    return cut[0]


def _reshape(g: TfliteGraph, op: Any, kin: Keep) -> Keep:
    """A reshape keeping the channel axis last (a squeeze) passes the indices on; a flatten maps them."""
    out = op.outputs[0]
    if kin is None:
        return None
    in_shape = [int(d) for d in g.tensor(op.inputs[0]).shape]
    out_shape = [int(d) for d in g.tensor(out).shape]
    channels = int(in_shape[-1])
    positions = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
    if out_shape[-1] == channels and int(np.prod(out_shape)) == int(np.prod(in_shape)):
        new_keep, new_last = kin, len(kin)
    elif len(out_shape) == 2 and out_shape[-1] == positions * channels:
        new_keep = np.concatenate([p * channels + kin for p in range(positions)])
        new_last = positions * len(kin)
    else:
        raise SliceError(f"a reshape {in_shape} -> {out_shape} of cut channels cannot be followed")
    new_shape = [*out_shape[:-1], new_last]
    g.set_shape(out, new_shape)
    if len(op.inputs) > 1 and op.inputs[1] >= 0 and g.is_const(op.inputs[1]):
        g.set_array(op.inputs[1], np.array(new_shape, dtype=np.int32))
    if op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
        op.builtinOptions.newShape = new_shape
    return new_keep


def _concat(g: TfliteGraph, op: Any, kept: Mapping[int, Keep]) -> Keep:
    """A concatenation passes nothing cut (not followed yet: none of the built-in embedded models has one)."""
    if any(kept.get(i) is not None for i in op.inputs if i >= 0):
        raise SliceError("a concatenation of cut channels cannot be followed")
    return None


LAYER_OPERATORS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def operators(data: bytes) -> list[tuple[str, str]]:
    """(operator, output tensor name) of every operator of the first subgraph, in order."""
    schema = _schema()
    model = schema.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        tensor = graph.Tensors(op.Outputs(0))
        name = tensor.Name().decode(errors="replace") if tensor.Name() else ""
        found.append((names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?"), name))
    return found
