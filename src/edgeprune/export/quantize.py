"""Post-training quantization of a float ``.tflite`` with ai-edge-quantizer: fp16 weights, int8 static."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.logs import quiet
from edgeprune.progress import progress_bar

IO_DTYPES = ("float", "int8")
CALIBRATION_THREADS = 2
# Samples per calibrate() call: the quantizer resumes from the previous call's min/max (moving average updated one
# sample at a time), so chunking only lets a progress bar move; measured here: bit-identical min/max and model.
CALIBRATION_CHUNK = 25
SCHEMES = {"fp16": "float16 weights", "int8": "static int8 (weights per-channel, activations per-tensor)"}


def _recipe(precision: str, io_dtype: str) -> Any:
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    ops = qtyping.TFLOperationName
    manager = recipe_manager.RecipeManager()
    if precision == "fp16":
        manager.add_weight_only_config(".*", ops.ALL_SUPPORTED, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    else:
        manager.add_static_config(".*", ops.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
        if io_dtype == "float":  # keep float32 model inputs/outputs: QUANTIZE/DEQUANTIZE at the edges
            manager.add_quantization_config(".*", ops.INPUT, algorithm_key=AlgorithmName.NO_QUANTIZE)
            manager.add_quantization_config(".*", ops.OUTPUT, algorithm_key=AlgorithmName.NO_QUANTIZE)
    return manager.get_quantization_recipe()


def _signature(float_model: bytes) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_content=float_model).get_signature_list()
    if len(signatures) != 1:
        raise EdgepruneError(f"int8 calibration needs a single-signature model, found {sorted(signatures)}")
    ((name, sig),) = signatures.items()
    if len(sig["inputs"]) != 1:
        raise EdgepruneError(f"int8 calibration supports one model input, found {sig['inputs']}")
    return name, sig["inputs"][0]


def _describe(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero = detail.get("quantization", (0.0, 0))
    return {"dtype": np.dtype(detail["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}


def io_quantization(model: bytes) -> dict[str, Any]:
    """dtype, scale and zero point of the input and output; with float i/o also of the int8 tensors
    right after the input QUANTIZE and right before the output DEQUANTIZE."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    params = {"input": _describe(inp), "output": _describe(out)}
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    for op in interp._get_ops_details():
        if op["op_name"] == "QUANTIZE" and inp["index"] in list(op["inputs"]):
            params["input_quantized"] = _describe(tensors[int(op["outputs"][0])])
        if op["op_name"] == "DEQUANTIZE" and out["index"] in list(op["outputs"]):
            params["output_quantized"] = _describe(tensors[int(op["inputs"][0])])
    return params


def _calibrate(engine: Any, float_model: bytes, calibration: np.ndarray) -> Any:
    """Run every calibration sample through the float model in chunks, with a progress bar."""
    sig, name = _signature(float_model)
    feed = [{name: np.ascontiguousarray(calibration[i : i + 1], dtype=np.float32)} for i in range(len(calibration))]
    qsv = None
    with progress_bar(f"int8 calibration on {len(feed)} select samples", total=len(feed)) as bar:
        for start in range(0, len(feed), CALIBRATION_CHUNK):
            chunk = feed[start : start + CALIBRATION_CHUNK]
            with quiet():
                qsv = engine.calibrate({sig: chunk}, previous_calibration_result=qsv, num_threads=CALIBRATION_THREADS)
            bar.advance(len(chunk))
    return qsv


def quantize_tflite(
    float_model: bytes,
    precision: str,
    calibration: np.ndarray | None = None,
    io_dtype: str = "float",
    relax_clamps: bool = True,
) -> tuple[bytes, dict[str, Any]]:
    """Quantize ``float_model``; returns the new flatbuffer and the parameters to record in metadata.

    ``calibration`` (N samples in the model's input layout) is required for int8; it must come from a
    split the reported accuracy does not use (the dataset's ``select`` split). int8 files get their weights inside
    the flatbuffer and, with ``relax_clamps``, fused bounds their outputs cannot reach dropped
    (:mod:`edgeprune.export.clamps`; identical outputs, and TFLM can prepare them).
    """
    from ai_edge_quantizer import quantizer

    if io_dtype not in IO_DTYPES:
        raise EdgepruneError(f"int8 io_dtype '{io_dtype}' is not one of {IO_DTYPES}")
    recipe = _recipe(precision, io_dtype)
    engine = quantizer.Quantizer(bytearray(float_model), recipe)
    result_qsv = None
    if precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise EdgepruneError(
                "int8 export needs calibration samples: pass calibration=<N samples> (the dataset's select split)"
            )
        result_qsv = _calibrate(engine, float_model, calibration)
    with progress_bar(f"quantizing to {precision} ({SCHEMES[precision]})", total=1) as bar, quiet():
        result = engine.quantize(result_qsv, enable_progress_report=False)
        bar.advance()
    model = bytes(result.quantized_model)
    relaxed: list[dict[str, Any]] = []
    if precision == "int8":  # what microcontrollers run: weights inside the flatbuffer, clamps TFLM can quantize
        from edgeprune.export.clamps import relax_unreachable_clamps
        from edgeprune.export.flatbuffer import inline_buffers

        model = inline_buffers(model)
        if relax_clamps:
            model, changed = relax_unreachable_clamps(model)
            relaxed = [c.to_dict() for c in changed]
    params = {
        "tool": "ai-edge-quantizer",
        "scheme": SCHEMES[precision],
        "recipe": json.loads(json.dumps(result.recipe, default=str)),
        "io": io_quantization(model),
        "io_dtype": "float" if precision == "fp16" else io_dtype,
        "calibration_samples": len(calibration) if precision == "int8" and calibration is not None else 0,
        "relaxed_clamps": relaxed,
    }
    return model, params
