"""TensorFlow Lite ``benchmark_model`` (Android, adb): output parser and command runner.

:func:`parse_benchmark_output` turns the tool's text into a :class:`BenchmarkModelRun` (every field it
prints: model size, init, first inference, warm-up and inference averages, each ``count=.. avg=..`` stats
line, memory footprint, XNNPACK partitions, threads, op profiling by node type). A failed run raises
:class:`BenchmarkModelError` quoting the tool's ``ERROR:`` lines. :class:`AdbRunner` pushes a ``.tflite``
to a device, runs the tool there through ``adb shell`` and parses what it prints.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgeprune.errors import EdgepruneError


class BenchmarkModelError(EdgepruneError):
    """``benchmark_model`` failed on the device, or printed no result."""


_PREFIX = re.compile(r"^(INFO|VERBOSE|WARNING|ERROR):\s?")
_KV = re.compile(r"(\w+)=([-+0-9.eE]+)")
_PARAM = re.compile(r"^([A-Za-z#][\w #/()-]*?):\s*\[(.*)\]$")
_RUNNING = re.compile(r"Running benchmark for at least (\d+) iterations and at least ([\d.]+) seconds")
_DELEGATE = re.compile(
    r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, "
    r"yielding (\d+) partitions(?: for subgraph (\d+))?"
)
_SUMMARY_COLUMNS = ("node_type", "count", "avg_ms", "avg_pct", "cdf_pct", "mem_kb", "times_called")


@dataclass(frozen=True)
class RunStats:
    """One ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..`` line (microseconds)."""

    label: str  # "warmup", "inference" or "profiler"
    count: int
    curr: float
    first: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    std: float | None = None
    p5: float | None = None
    median: float | None = None
    p95: float | None = None
    min_iterations: int | None = None
    min_seconds: float | None = None


@dataclass(frozen=True)
class DelegatePartitions:
    """How much of the graph a delegate (XNNPACK) took over."""

    delegate: str
    nodes_replaced: int
    nodes_total: int
    partitions: int
    subgraph: int = 0


@dataclass(frozen=True)
class NodeTypeProfile:
    """One row of the op profiler's "Summary by node type" table."""

    node_type: str
    count: int
    avg_ms: float
    avg_pct: float
    cdf_pct: float
    mem_kb: float
    times_called: int


@dataclass(frozen=True)
class BenchmarkModelRun:
    """Everything one successful ``benchmark_model`` run printed."""

    parameters: dict[str, str]
    graph: str | None
    num_threads: int | None
    model_size_mb: float | None
    init_ms: float | None
    init_us: float | None
    first_inference_us: float | None
    warmup_avg_us: float | None
    inference_avg_us: float | None
    memory_init_mb: float | None
    memory_overall_mb: float | None
    stats: tuple[RunStats, ...]
    delegates: tuple[DelegatePartitions, ...] = ()
    xnnpack: bool = False
    op_profile: dict[str, tuple[NodeTypeProfile, ...]] = field(default_factory=dict)
    nodes_executed: int | None = None
    errors: tuple[str, ...] = ()  # ERROR lines of a run that still produced timings

    @property
    def warmup(self) -> RunStats | None:
        return next((s for s in self.stats if s.label == "warmup"), None)

    @property
    def inference(self) -> RunStats | None:
        return next((s for s in self.stats if s.label == "inference"), None)

    def to_result(self, path: str | None = None) -> dict:
        """This run as one entry of the harness's ``results`` list (milliseconds; missing fields are None)."""
        inf = self.inference
        ms = lambda us: None if us is None else us / 1e3  # noqa: E731
        latency = {}
        if inf is not None:
            latency = {
                "count": inf.count,
                "p5": ms(inf.p5),
                "p50": ms(inf.median),
                "p95": ms(inf.p95),
                "mean": ms(inf.avg),
                "std": ms(inf.std),
                "min": ms(inf.min),
                "max": ms(inf.max),
            }
        size = None if self.model_size_mb is None else round(self.model_size_mb * 1024 * 1024)
        return {
            "path": path or self.graph,
            "size_bytes": size,
            "load_ms": self.init_ms,
            "first_ms": ms(self.first_inference_us),
            "latency_ms": latency,
            "memory_mb": {"init": self.memory_init_mb, "overall": self.memory_overall_mb},
        }


def _num(text: str) -> float:
    return float(text)


def _parse_stats(line: str, label: str, running: tuple[int, float] | None) -> RunStats:
    kv = {k: _num(v) for k, v in _KV.findall(line)}
    known = {k: kv[k] for k in ("first", "min", "max", "avg", "std", "p5", "median", "p95") if k in kv}
    return RunStats(
        label=label,
        count=int(kv["count"]),
        curr=kv.get("curr", float("nan")),
        min_iterations=running[0] if running else None,
        min_seconds=running[1] if running else None,
        **known,
    )


def _parse_summary_row(line: str) -> NodeTypeProfile | None:
    cells = [c.strip() for c in line.split("\t") if c.strip()]
    if len(cells) != len(_SUMMARY_COLUMNS) or cells[0].startswith("["):
        return None
    try:
        nums = [float(c.rstrip("%")) for c in cells[1:]]
    except ValueError:
        return None
    return NodeTypeProfile(cells[0], int(nums[0]), nums[1], nums[2], nums[3], nums[4], int(nums[5]))


def _errors(lines: list[str]) -> list[str]:
    return [ln.split("ERROR:", 1)[1].strip() for ln in lines if ln.lstrip().startswith("ERROR:")]


def parse_benchmark_output(text: str, source: str = "benchmark_model output") -> BenchmarkModelRun:
    """Parse the text printed by ``benchmark_model``.

    A run without inference timings raises :class:`BenchmarkModelError` quoting the tool's ERROR lines;
    ERROR lines of a run that did produce timings are kept in ``errors``.
    """
    raw_lines = text.splitlines()
    errors = _errors(raw_lines)
    params: dict[str, str] = {}
    values: dict[str, float] = {}
    stats: list[RunStats] = []
    delegates: list[DelegatePartitions] = []
    profile: dict[str, list[NodeTypeProfile]] = {}
    section, in_summary, running, nodes_executed = "runs", False, None, None
    xnnpack = False
    for raw in raw_lines:
        line = _PREFIX.sub("", raw.strip())
        if not line:
            in_summary = False
            continue
        if m := _PARAM.match(line):
            params[m.group(1).strip()] = m.group(2)
        elif m := _RUNNING.search(line):
            running = (int(m.group(1)), float(m.group(2)))
        elif line.startswith("count="):
            label = "warmup" if not any(s.label == "warmup" for s in stats) else "inference"
            stats.append(_parse_stats(line, label, running))
            running = None
        elif line.startswith("Timings (microseconds):"):
            stats.append(_parse_stats(line, "profiler", None))
        elif m := _DELEGATE.search(line):
            sub = int(m.group(5)) if m.group(5) else 0
            delegates.append(DelegatePartitions(m.group(3), int(m.group(1)), int(m.group(2)), int(m.group(4)), sub))
        elif "XNNPACK delegate" in line and line.startswith("Created"):
            xnnpack = True
        elif m := re.search(r"model file size \(MB\): ([\d.eE+-]+)", line):
            values["size_mb"] = _num(m.group(1))
        elif m := re.match(r"Initialized session in ([\d.eE+-]+)ms", line):
            values["init_ms"] = _num(m.group(1))
        elif line.startswith("Inference timings in us:"):
            for key, val in re.findall(r"([A-Za-z ()]+): ([\d.eE+-]+)", line.split(":", 1)[1]):
                values[key.strip().strip(",").strip()] = _num(val)
        elif m := re.search(r"init=([\d.eE+-]+) overall=([\d.eE+-]+)", line):
            values["mem_init"], values["mem_overall"] = _num(m.group(1)), _num(m.group(2))
        elif "Profiling Info for Benchmark Initialization" in line:
            section = "init"
        elif "Profiling Info for Regular Benchmark Runs" in line:
            section = "runs"
        elif "Summary by node type" in line:
            in_summary = True
            profile.setdefault(section, [])
        elif m := re.match(r"Number of nodes executed: (\d+)", line):
            nodes_executed = int(m.group(1))
        elif in_summary and (row := _parse_summary_row(line)):
            profile[section].append(row)
    if "Inference (avg)" not in values and not any(s.label == "inference" for s in stats):
        if errors:
            raise BenchmarkModelError(f"{source}: benchmark_model failed: " + " | ".join(errors))
        tail = " | ".join(ln.strip() for ln in raw_lines[-5:] if ln.strip())
        raise BenchmarkModelError(f"{source}: benchmark_model printed no inference timings (last lines: {tail!r})")
    threads = params.get("Num threads") or params.get("#threads used for CPU inference")
    return BenchmarkModelRun(
        parameters=params,
        graph=params.get("Graph"),
        num_threads=int(threads) if threads else None,
        model_size_mb=values.get("size_mb"),
        init_ms=values.get("init_ms"),
        init_us=values.get("Init"),
        first_inference_us=values.get("First inference"),
        warmup_avg_us=values.get("Warmup (avg)"),
        inference_avg_us=values.get("Inference (avg)"),
        memory_init_mb=values.get("mem_init"),
        memory_overall_mb=values.get("mem_overall"),
        stats=tuple(stats),
        delegates=tuple(delegates),
        xnnpack=xnnpack or any(d.delegate == "TfLiteXNNPackDelegate" for d in delegates),
        op_profile={k: tuple(v) for k, v in profile.items()},
        nodes_executed=nodes_executed,
        errors=tuple(errors),
    )


@dataclass(frozen=True)
class AdbRunner:
    """Run ``benchmark_model`` on an Android device over adb (the binary must already be on the device)."""

    binary: str = "/data/local/tmp/benchmark_model"
    device_dir: str = "/data/local/tmp/edgeprune"
    serial: str | None = None
    adb: str = "adb"
    timeout_s: float = 900.0

    def _adb(self) -> list[str]:
        return [self.adb] + (["-s", self.serial] if self.serial else [])

    def device_path(self, model: str | Path) -> str:
        return f"{self.device_dir.rstrip('/')}/{Path(model).name}"

    def benchmark_args(
        self,
        model: str | Path,
        threads: int = 1,
        xnnpack: bool = True,
        warmup_runs: int = 20,
        num_runs: int = 200,
        min_secs: float = 0.0,
        op_profiling: bool = False,
    ) -> list[str]:
        """The ``benchmark_model`` command line (run on the device)."""
        args = [
            self.binary,
            f"--graph={self.device_path(model)}",
            f"--num_threads={threads}",
            f"--use_xnnpack={'true' if xnnpack else 'false'}",
            f"--warmup_runs={warmup_runs}",
            f"--num_runs={num_runs}",
            f"--min_secs={min_secs:g}",
        ]
        return args + (["--enable_op_profiling=true"] if op_profiling else [])

    def commands(self, model: str | Path, **bench_kwargs: object) -> dict[str, list[str]]:
        """The adb command lines: ``mkdir``, ``push``, ``benchmark`` and ``cleanup``."""
        remote = self.device_path(model)
        return {
            "mkdir": [*self._adb(), "shell", shlex.join(["mkdir", "-p", self.device_dir])],
            "push": [*self._adb(), "push", str(model), remote],
            "benchmark": [*self._adb(), "shell", shlex.join(self.benchmark_args(model, **bench_kwargs))],  # type: ignore[arg-type]
            "cleanup": [*self._adb(), "shell", shlex.join(["rm", "-f", remote])],
        }

    def _call(self, cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            raise BenchmarkModelError(
                f"adb executable {self.adb!r} not found; install Android platform-tools"
            ) from None
        except subprocess.TimeoutExpired:
            raise BenchmarkModelError(f"adb {what} timed out after {self.timeout_s:g} s: {shlex.join(cmd)}") from None

    def run(self, model: str | Path, **bench_kwargs: object) -> BenchmarkModelRun:
        """Push ``model``, benchmark it on the device, remove it, and return the parsed run."""
        if not Path(model).is_file():
            raise BenchmarkModelError(f"model file {model} does not exist")
        if shutil.which(self.adb) is None and not Path(self.adb).is_file():
            raise BenchmarkModelError(f"adb executable {self.adb!r} not found; install Android platform-tools")
        cmds = self.commands(model, **bench_kwargs)
        for step in ("mkdir", "push"):
            proc = self._call(cmds[step], step)
            if proc.returncode != 0:
                raise BenchmarkModelError(f"adb {step} failed for {model}: {(proc.stderr or proc.stdout).strip()}")
        try:
            proc = self._call(cmds["benchmark"], "shell")
        finally:
            self._call(cmds["cleanup"], "cleanup")
        text = proc.stdout + ("\n" + proc.stderr if proc.stderr else "")
        run = parse_benchmark_output(text, source=f"{self.binary} on {self.serial or 'device'} ({Path(model).name})")
        if proc.returncode != 0:
            raise BenchmarkModelError(f"{self.binary} exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        return run
