"""An int8 artifact on the microcontroller's interpreter: TFLM against LiteRT on the same int8 inputs.

Both interpreters get the same input bytes (the validation samples quantized with the file's own input scale);
their raw int8 outputs are compared (arg-max agreement, bit-identical samples, largest difference) and TFLM's
outputs, dequantized, are scored with the task's metric. LiteRT runs its reference kernels (``BUILTIN_REF``), the
integer arithmetic TFLM's reference kernels implement, so the two agree to a rounding step (measured here on a
small EdgeNet on the digits: 96 of 100 samples bit-identical, the rest one int8 step apart; LiteRT's default
XNNPACK kernels differed from TFLM by up to 2 steps). A larger difference is a runtime disagreement, not noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeprune.config import TflmConfig
from edgeprune.embedded.records import TflmCheck
from edgeprune.embedded.tflm import run_tflm, tflm_version
from edgeprune.errors import EdgepruneError
from edgeprune.task import CLASSIFICATION, Task


def _litert(path: Path) -> Any:
    """LiteRT with its reference kernels, tensors not yet allocated (its input details are known already)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeprune.logs import quiet

    with quiet():
        return Interpreter(
            model_path=str(path), num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
        )


def _allocate(interpreter: Any, path: Path) -> None:
    from edgeprune.logs import quiet

    try:
        with quiet():
            interpreter.allocate_tensors()
    except RuntimeError as exc:  # TFLM accepted the file; LiteRT's reference kernels did not
        first = str(exc).strip().splitlines()[0][:200]
        raise EdgepruneError(f"{path.name}: LiteRT's reference kernels refuse it: {first}") from None


def quantize_inputs(x: np.ndarray, detail: dict[str, Any], layout: str) -> np.ndarray:
    """Float samples (the torch model's NCHW) -> the file's input dtype and layout."""
    if layout == "NHWC" and x.ndim == 4:
        x = np.transpose(x, (0, 2, 3, 1))
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.ascontiguousarray(x, dtype=np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def run_litert(interpreter: Any, inputs: np.ndarray) -> np.ndarray:
    """Raw outputs (the file's output dtype) of every sample, one at a time."""
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for i in range(len(inputs)):
        interpreter.set_tensor(inp["index"], inputs[i : i + 1])
        interpreter.invoke()
        results.append(np.array(interpreter.get_tensor(out["index"]), copy=True))
    return np.concatenate(results)


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail["quantization"]
    if y.dtype == np.float32 or not scale:
        return y.astype(np.float32)
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def _argmax(y: np.ndarray) -> np.ndarray:
    return y.argmax(1) if y.ndim >= 2 else y


def check_on_tflm(
    path: str | Path,
    samples: torch.Tensor,
    labels: torch.Tensor | None,
    cfg: TflmConfig,
    task: Task = CLASSIFICATION,
    layout: str = "NCHW",
) -> TflmCheck:
    """Run ``samples`` through TFLM and LiteRT and compare; raises :class:`~edgeprune.embedded.tflm.TflmRefusal`
    (one line: operator and reason) when TFLM cannot run the file, and :class:`EdgepruneError` when TFLM's top-1
    agrees with LiteRT's on fewer than ``cfg.min_agreement`` percent of the samples."""
    path = Path(path)
    interpreter = _litert(path)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x = quantize_inputs(samples.numpy(), inp, layout)
    run = run_tflm(path, x, cfg.arena_kib * 1024)  # first: a file the device's interpreter refuses is named as such
    _allocate(interpreter, path)
    reference = run_litert(interpreter, x)
    tflm = run.outputs.reshape(reference.shape)
    diff = np.abs(tflm.astype(np.int64) - reference.astype(np.int64))
    per_sample = diff.reshape(len(diff), -1).max(1)
    metric = None
    if labels is not None:
        metric = float(task.metric(torch.from_numpy(_dequantize(tflm, out)), labels))
    check = TflmCheck(
        samples=len(x),
        top1_agreement=float(np.mean(_argmax(tflm) == _argmax(reference)) * 100.0),
        identical=float(np.mean(per_sample == 0) * 100.0),
        max_abs_diff=int(diff.max()) if diff.size else 0,
        metric=metric,
        arena_bytes=run.arena_bytes,
        arena_head_bytes=run.arena_head_bytes,
        arena_tail_bytes=run.arena_tail_bytes,
        model_bytes=path.stat().st_size,
        tflm=tflm_version(),
    )
    if check.top1_agreement < cfg.min_agreement:
        raise EdgepruneError(
            f"{path.name} on TFLM: top-1 agrees with LiteRT on {check.top1_agreement:.1f}% of {check.samples}"
            f" samples (tflm.min_agreement {cfg.min_agreement:g}%), largest int8 difference {check.max_abs_diff};"
            " it is not shipped"
        )
    return check
