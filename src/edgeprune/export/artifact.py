"""An exported model file plus the runtime that executes it: ``artifact(x) -> np.ndarray``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.formats import format_of_path


@dataclass
class Artifact:
    """A deployable file. Calling it runs one batch through the real runtime (onnxruntime or LiteRT)."""

    path: Path
    runtime: str
    precision: str = "fp32"
    metadata: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    input_layout: str = "NCHW"
    _session: Any = field(default=None, init=False, repr=False)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def _load(self) -> Any:
        from edgeprune.logs import quiet

        with quiet():  # the runtimes print INFO lines (XNNPACK delegate) on load
            return self._open()

    def _open(self) -> Any:
        if self.runtime == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            return ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        if self.runtime == "litert":
            from ai_edge_litert.interpreter import Interpreter

            interp = Interpreter(model_path=str(self.path), num_threads=self.threads)
            interp.allocate_tensors()
            return interp
        raise EdgepruneError(f"artifact {self.path}: unknown runtime '{self.runtime}'")

    def input_details(self) -> tuple[tuple[int, ...], np.dtype]:
        """Static input shape and dtype the runtime expects."""
        sess = self._session = self._session or self._load()
        if self.runtime == "onnxruntime":
            inp = sess.get_inputs()[0]
            return tuple(d if isinstance(d, int) else 1 for d in inp.shape), np.dtype(np.float32)
        detail = sess.get_input_details()[0]
        return tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` (float32, the torch model's NCHW layout) and return the first output as float32.

        An artifact exported with NHWC input gets ``x`` transposed here, so callers never change.
        """
        return self.outputs(x)[0]

    def outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output of one run, float32, in the order the torch model returns them (a detector's heads)."""
        sess = self._session = self._session or self._load()
        if self.input_layout == "NHWC" and x.ndim == 4:
            x = np.transpose(x, (0, 2, 3, 1))
        if self.runtime == "onnxruntime":
            found = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})
            return [np.asarray(o, dtype=np.float32) for o in found]
        return self._run_litert(sess, x)

    def _run_litert(self, interp: Any, x: np.ndarray) -> list[np.ndarray]:
        inp = interp.get_input_details()[0]
        x = self._quantize_input(x, inp)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        found = []
        for out in _in_model_order(interp.get_output_details()):
            y = interp.get_tensor(out["index"])
            scale, zero = out.get("quantization", (0.0, 0))
            if y.dtype != np.float32 and scale:
                y = (y.astype(np.float32) - zero) * scale
            found.append(y.astype(np.float32))
        return found

    @staticmethod
    def _quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        dtype = np.dtype(detail["dtype"])
        if dtype == np.float32:
            return np.ascontiguousarray(x, dtype=np.float32)
        scale, zero = detail.get("quantization", (0.0, 0))
        info = np.iinfo(dtype)
        q = np.round(x / scale + zero) if scale else x
        return np.clip(q, info.min, info.max).astype(dtype)

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """Run a batch one sample at a time (artifacts have a static batch of 1)."""
        return np.concatenate([self(x[i : i + 1]) for i in range(len(x))])

    def run_batch_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output over a batch run one sample at a time, each concatenated over the batch."""
        runs = [self.outputs(x[i : i + 1]) for i in range(len(x))]
        return [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]


_OUTPUT_NUMBER = re.compile(r"output_(\d+)")


def _in_model_order(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LiteRT output details in the torch model's order: litert-torch names them ``..._output_<k>...``."""
    numbers = [_OUTPUT_NUMBER.search(str(d.get("name", ""))) for d in details]
    if len(details) < 2 or any(n is None for n in numbers):
        return list(details)
    return [d for _, d in sorted(zip([int(n.group(1)) for n in numbers], details, strict=True), key=lambda p: p[0])]


def load_artifact(path: str | Path, precision: str | None = None, threads: int = 1) -> Artifact:
    """Wrap an existing ``.onnx`` or ``.tflite`` file; precision and input layout come from its metadata JSON."""
    from edgeprune.export.metadata import read_metadata

    path = Path(path)
    runtime = format_of_path(path).runtime
    if not path.is_file():
        raise EdgepruneError(f"artifact {path} does not exist")
    meta = read_metadata(path)
    return Artifact(
        path=path,
        runtime=runtime,
        precision=precision or str(meta.get("precision", "fp32")),
        metadata=meta,
        threads=threads,
        input_layout=str(meta.get("input_layout", "NCHW")),
    )
