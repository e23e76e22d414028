"""Standalone latency runner: measures one artifact in this process and prints one JSON line.

This file must stay self-contained (standard library + numpy + the runtime) because it is copied
as-is to remote boards. Usage:

    python runner_script.py --artifact model.tflite --runtime litert --threads 1 --warmup 20 --runs 200

Several artifacts may be given (``--artifact a --artifact b``): their timed runs are then
interleaved round-robin so that drift (thermal, other load) hits every model alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time


def _peak_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


class _LiteRT:
    def __init__(self, path: str, threads: int, xnnpack: bool) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:  # old boards: tflite_runtime as a fallback
            from tflite_runtime.interpreter import Interpreter, OpResolverType  # type: ignore[no-redef]
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.it = Interpreter(model_path=path, num_threads=threads, experimental_op_resolver_type=resolver)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def input_spec(self) -> tuple[list[int], str]:
        return [int(d) for d in self.inp["shape"]], str(self.inp["dtype"].__name__)

    def __call__(self, x):
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        return self.it.get_tensor(self.out["index"])


class _OnnxRuntime:
    def __init__(self, path: str, threads: int, xnnpack: bool) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Idle worker threads spin after a run by default; with several sessions interleaved in one process
        # they steal the cores from the next session (efficientnet_b0, 2 threads, 2 cores, 5 sessions:
        # 24.8 ms vs 5.4 ms alone). Stopping the spin when a run returns: 6.1 ms interleaved, 5.7 ms alone.
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.inp = self.sess.get_inputs()[0]

    def input_spec(self) -> tuple[list[int], str]:
        shape = [d if isinstance(d, int) else 1 for d in self.inp.shape]
        dtype = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8"}.get(
            self.inp.type, "float32"
        )
        return shape, dtype

    def __call__(self, x):
        return self.sess.run(None, {self.inp.name: x})[0]


RUNTIMES = {"litert": _LiteRT, "onnxruntime": _OnnxRuntime}


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    pos = (len(sorted_ms) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def summarize(times_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean/std/min/max of a list of milliseconds."""
    s = sorted(times_ms)
    n = len(s)
    mean = sum(s) / n
    std = (sum((t - mean) ** 2 for t in s) / max(n - 1, 1)) ** 0.5
    return {
        "count": n,
        "p50": _percentile(s, 50),
        "p90": _percentile(s, 90),
        "p99": _percentile(s, 99),
        "mean": mean,
        "std": std,
        "min": s[0],
        "max": s[-1],
    }


def measure(
    paths: list[str], runtime: str, threads: int, warmup: int, runs: int, min_seconds: float, xnnpack: bool
) -> dict:
    """Load every model, warm up, then time ``runs`` interleaved inferences of each."""
    import numpy as np

    models, inputs, loads, firsts = [], [], [], []
    for path in paths:
        t0 = time.perf_counter()
        model = RUNTIMES[runtime](path, threads, xnnpack)
        loads.append((time.perf_counter() - t0) * 1e3)
        shape, dtype = model.input_spec()
        x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        t0 = time.perf_counter()
        model(x)
        firsts.append((time.perf_counter() - t0) * 1e3)
        models.append(model)
        inputs.append(x)
    for _ in range(warmup):
        for model, x in zip(models, inputs):
            model(x)
    times: list[list[float]] = [[] for _ in paths]
    start = time.perf_counter()
    i = 0
    while i < runs or (time.perf_counter() - start) < min_seconds:
        for k, (model, x) in enumerate(zip(models, inputs)):
            t0 = time.perf_counter()
            model(x)
            times[k].append((time.perf_counter() - t0) * 1e3)
        i += 1
    results = []
    for k, path in enumerate(paths):
        results.append(
            {
                "path": path,
                "size_bytes": os.path.getsize(path),
                "load_ms": loads[k],
                "first_ms": firsts[k],
                "latency_ms": summarize(times[k]),
            }
        )
    return {
        "runtime": runtime,
        "threads": threads,
        "xnnpack": xnnpack,
        "peak_rss_bytes": _peak_rss_bytes(),
        "env": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", action="append", required=True)
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--no-xnnpack", action="store_true")
    args = parser.parse_args(argv)
    out = measure(
        args.artifact, args.runtime, args.threads, args.warmup, args.runs, args.min_seconds, not args.no_xnnpack
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
