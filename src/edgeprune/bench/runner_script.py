"""Standalone latency runner: measures one artifact in this process and prints one JSON line.

This file must stay self-contained (standard library + numpy + the runtime) because it is copied
as-is to remote boards. Usage:

    python runner_script.py --artifact model.tflite --threads 1 --warmup 20 --runs 200

Several artifacts may be given (``--artifact a --artifact b``): their timed runs are then
interleaved round-robin so that drift (thermal, other load) hits every model alike. Each artifact runs on the
runtime its suffix names (``.tflite``: litert, ``.onnx``: onnxruntime), so formats can be mixed in one process;
``--runtime NAME`` runs every artifact on that runtime instead.

Memory: ``peak_rss_bytes`` is this process's own high-water mark (``VmHWM`` in ``/proc/self/status``, which
``exec`` resets), read after every run; ``ru_maxrss`` is not used on Linux because it keeps the parent's
high-water mark across fork + exec. ``rss_before_models_bytes`` is the resident size after importing the
runtimes and before loading any model, so the difference is what the models and their runs cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time


def _proc_status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux) in bytes, or None where there is no such file."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _peak_rss_bytes() -> int:
    """This process's peak resident set size: ``VmHWM`` on Linux; ``ru_maxrss`` elsewhere (macOS reports bytes)."""
    hwm = _proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def _rss_bytes() -> int | None:
    return _proc_status_bytes("VmRSS")


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
SUFFIX_RUNTIMES = {".tflite": "litert", ".onnx": "onnxruntime"}  # must agree with edgeprune.formats (tested)


def runtime_of(path: str, forced: str | None = None) -> str:
    """The runtime ``path`` runs on: ``forced`` when given, else the one its suffix names."""
    if forced:
        return forced
    runtime = SUFFIX_RUNTIMES.get(os.path.splitext(path)[1])
    if runtime is None:
        raise SystemExit(f"runner: {path}: unknown artifact suffix (known: {sorted(SUFFIX_RUNTIMES)}); pass --runtime")
    return runtime


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


def _import_runtimes(runtimes: list[str]) -> None:
    """Import each runtime's module before any model is loaded (so the idle size can be read)."""
    for runtime in sorted(set(runtimes)):
        if runtime == "onnxruntime":
            import onnxruntime  # noqa: F401
        else:
            try:
                import ai_edge_litert.interpreter  # noqa: F401
            except ImportError:
                import tflite_runtime.interpreter  # type: ignore[import-not-found]  # noqa: F401


def measure(
    paths: list[str],
    runtime: str | None,
    threads: int,
    warmup: int,
    runs: int,
    min_seconds: float,
    xnnpack: bool,
) -> dict:
    """Load every model (each on its suffix's runtime unless ``runtime`` is given), warm up, then time ``runs``
    interleaved inferences of each."""
    import numpy as np

    runtimes = [runtime_of(p, runtime) for p in paths]
    _import_runtimes(runtimes)
    rss_before = _rss_bytes()
    models, inputs, loads, firsts = [], [], [], []
    for path, path_runtime in zip(paths, runtimes):
        t0 = time.perf_counter()
        model = RUNTIMES[path_runtime](path, threads, xnnpack)
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
                "runtime": runtimes[k],
                "size_bytes": os.path.getsize(path),
                "load_ms": loads[k],
                "first_ms": firsts[k],
                "latency_ms": summarize(times[k]),
            }
        )
    return {
        "runtime": runtime or ",".join(sorted(set(runtimes))),
        "threads": threads,
        "xnnpack": xnnpack,
        "peak_rss_bytes": _peak_rss_bytes(),
        "rss_before_models_bytes": rss_before,
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
    parser.add_argument(
        "--runtime", choices=sorted(RUNTIMES), help="run every artifact on this runtime (default: from its suffix)"
    )
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
