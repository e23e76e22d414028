"""Fused activation bounds an int8 output cannot reach, dropped so TensorFlow Lite Micro can prepare the op.

An int8 op with a fused RELU6 clamps its output at ``zero_point + round(6 / scale)``; TFLM computes that bound at
prepare and refuses the op when ``round(6 / scale)`` does not fit an int32 (``TF_LITE_ENSURE(context,
no_integer_overflow_from_quantization)`` in tensorflow/lite/micro/kernels/kernel_util.cc, reached through
``CalculateActivationRangeQuantized``). That happens when calibration saw the tensor (nearly) constant: a dead
layer, or the vanishing activations of a randomly initialized mobilenet_v2 (output scale 1.8e-9 at its 57th op,
measured here). LiteRT with its default (XNNPACK) kernels and Vela accept the same file; LiteRT's reference
kernels refuse it the same way (tflite/kernels/kernel_util.cc).

Such an output can represent at most ``255 * scale`` (< 1.2e-6 here), far below 6, so the upper bound never acts:
RELU6 is exactly RELU on that tensor (and RELU_N1_TO_1 exactly no activation). The rewrite changes that one byte
of the operator's options in place, so every runtime computes the same outputs as before; the check runs on the
quantized flatbuffer, before any runtime sees it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

INT32_LIMIT = float(2**31 - 1)
SAFE_LIMIT = float(2**30)  # relax when the bound's quantized value passes this: far beyond what int8 can reach


@dataclass(frozen=True)
class RelaxedClamp:
    """One operator whose unreachable fused bound was dropped."""

    index: int
    op: str
    tensor: str
    scale: float
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RecordingTable:
    """Reads a flatbuffers table like ``flatbuffers.table.Table`` and remembers the last scalar's position."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.position: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def Get(self, flags: Any, offset: int) -> Any:
        self.position = offset
        return self._table.Get(flags, offset)


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _names(enum: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def relax_unreachable_clamps(model: bytes) -> tuple[bytes, list[RelaxedClamp]]:
    """The flatbuffer with every fused RELU6 / RELU_N1_TO_1 whose bound overflows int32 at its output scale
    replaced by RELU / no activation (identical outputs), and the operators changed."""
    schema = _schema()
    buf = bytearray(model)
    root = schema.Model.GetRootAs(buf, 0)
    ops, options, acts = _names(schema.BuiltinOperator), _names(schema.BuiltinOptions), schema.ActivationFunctionType
    replace = {acts.RELU6: (6.0, acts.RELU), acts.RELU_N1_TO_1: (1.0, acts.NONE)}
    act_names = _names(acts)
    relaxed: list[RelaxedClamp] = []
    for g in range(root.SubgraphsLength()):
        graph = root.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            cls = getattr(schema, options.get(op.BuiltinOptionsType(), ""), None)
            table = op.BuiltinOptions()
            if table is None or cls is None or not hasattr(cls, "FusedActivationFunction") or op.OutputsLength() < 1:
                continue
            opts = cls()
            opts.Init(table.Bytes, table.Pos)
            recorder = _RecordingTable(opts._tab)
            opts._tab = recorder
            act = opts.FusedActivationFunction()
            if act not in replace or recorder.position is None:
                continue
            tensor = graph.Tensors(op.Outputs(0))
            quant = tensor.Quantization()
            if quant is None or quant.ScaleLength() != 1 or quant.Scale(0) <= 0:
                continue
            bound, new = replace[act]
            if round(bound / quant.Scale(0)) <= SAFE_LIMIT:
                continue
            buf[recorder.position] = new
            code = root.OperatorCodes(op.OpcodeIndex())
            name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            relaxed.append(
                RelaxedClamp(i, name, tensor.Name().decode(errors="replace"), quant.Scale(0), act_names[act],
                             act_names[new])
            )  # fmt: skip
    return bytes(buf), relaxed
