"""TFLite export through litert-torch (fp32), then ai-edge-quantizer for fp16 / int8; runs on ai-edge-litert."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact
from edgeprune.export.diagnose import explain_failure
from edgeprune.export.quantize import quantize_tflite
from edgeprune.logs import quiet

PRECISIONS = ("fp32", "fp16", "int8")


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).contiguous()


def convert_float(model: nn.Module, example: torch.Tensor, nhwc: bool = False) -> bytes:
    """The fp32 flatbuffer; with ``nhwc`` the model takes (N, H, W, C) input (a transpose is built in)."""
    with quiet():  # importing litert-torch (TensorFlow) logs to stderr
        import litert_torch

    if nhwc and example.ndim != 4:
        raise EdgepruneError(f"nhwc input needs a 4-D (N, C, H, W) example, got shape {tuple(example.shape)}")
    module, args = (litert_torch.to_channel_last_io(model, args=[0]), _to_nhwc(example)) if nhwc else (model, example)
    try:
        with quiet():
            converted = litert_torch.convert(module.eval(), (args,))
    except Exception as exc:
        raise explain_failure(model, example, exc, "TFLite conversion (litert-torch)") from exc
    with tempfile.TemporaryDirectory(prefix="edgeprune-tflite-") as tmp_dir, quiet():
        float_path = Path(tmp_dir) / "float.tflite"
        converted.export(str(float_path))
        return float_path.read_bytes()


def export(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    precision: str = "fp32",
    calibration: torch.Tensor | np.ndarray | None = None,
    io_dtype: str = "float",
    nhwc: bool = False,
    sparse: bool = False,
) -> Artifact:
    """Write ``model`` to ``path`` (the registry makes it atomic) as fp32, fp16 (float16 weights) or int8.

    int8 is static full-integer quantization calibrated on ``calibration`` (N samples, NCHW).

    ``io_dtype`` ("float" or "int8") picks the int8 model's input/output type; ``nhwc`` makes the file
    take channels-last input (the returned artifact still accepts NCHW and transposes). ``sparse`` stores
    weights with >= 50% zeros in TFLite's sparse encoding behind DENSIFY ops
    (:mod:`edgeprune.export.sparse_tflite`; what was encoded goes to the metadata's ``options.sparse_weights``).
    """
    if precision not in PRECISIONS:
        raise EdgepruneError(f"TFLite precision '{precision}' is not one of {PRECISIONS}")
    if precision != "int8" and io_dtype != "float":
        raise EdgepruneError(f"io_dtype '{io_dtype}' applies to int8 only; precision {precision} keeps float i/o")
    if precision == "int8" and (calibration is None or len(calibration) == 0):
        raise EdgepruneError(
            "int8 export needs calibration samples: pass calibration=<N samples> (the dataset's select split)"
        )
    data = convert_float(model, example, nhwc)
    quantization = None
    if precision != "fp32":
        calib = None
        if calibration is not None:
            calib = torch.as_tensor(calibration, dtype=torch.float32)
            calib = (_to_nhwc(calib) if nhwc else calib).numpy()
        data, quantization = quantize_tflite(data, precision, calib, io_dtype)
    options: dict = {"io_dtype": io_dtype if precision == "int8" else "float", "nhwc": nhwc, "sparse": sparse}
    if sparse:
        from edgeprune.export.sparse_tflite import encode_sparse_weights

        data, report = encode_sparse_weights(data)
        options["sparse_weights"] = report.to_dict()
    path.write_bytes(data)
    return Artifact(
        path=path,
        runtime="litert",
        precision=precision,
        metadata={"options": options, "quantization": quantization},
        input_layout="NHWC" if nhwc else "NCHW",
    )
