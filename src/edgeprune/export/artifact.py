"""An exported model file plus the runtime that executes it: ``artifact(x) -> np.ndarray``."""

from __future__ import annotations

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
        sess = self._session = self._session or self._load()
        if self.input_layout == "NHWC" and x.ndim == 4:
            x = np.transpose(x, (0, 2, 3, 1))
        if self.runtime == "onnxruntime":
            return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return self._run_litert(sess, x)

    def _run_litert(self, interp: Any, x: np.ndarray) -> np.ndarray:
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        x = self._quantize_input(x, inp)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])
        scale, zero = out.get("quantization", (0.0, 0))
        if y.dtype != np.float32 and scale:
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

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
