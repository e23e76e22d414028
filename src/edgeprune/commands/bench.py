"""``edgeprune bench``: measure artifacts on a target, print a table, write JSON, gate against a baseline.

Exit code 0 when no model regressed (or the baseline was updated), 1 on a regression, 2 on a user error.
``--android [SERIAL]`` times ``.tflite`` artifacts on an Android device with ``benchmark_model`` over adb instead
(a table and JSON; no regression gate).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.atomic import read_json, write_json
from edgeprune.bench.android import AndroidMeasurement, measure_android
from edgeprune.bench.benchmark_model import AdbRunner
from edgeprune.bench.harness import Protocol
from edgeprune.bench.reference import LADDER, builtin_ladder
from edgeprune.bench.regression import (
    BaselineMismatchError,
    GateResult,
    MeasureMany,
    baseline_rungs,
    compare,
    local_measure_many,
    measure_ratios,
)
from edgeprune.bench.remote import SshRunner
from edgeprune.config import BenchConfig, Target
from edgeprune.errors import EdgepruneError
from edgeprune.pipeline.outputs import prepare, writing
from edgeprune.pipeline.targets import load_target

HELP = "measure latency of artifacts on a target (ratio to a reference workload) and gate regressions"
FLAGS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="target name (targets/NAME.toml) or a .toml path")
    parser.add_argument("--artifact", action="append", default=[], metavar="[NAME=]FILE",
                        help="artifact to measure (repeatable); NAME defaults to the file stem")  # fmt: skip
    parser.add_argument(
        "--reference",
        help="reference workload artifact for every model (default: the built-in ladder's rung nearest each model)",
    )
    parser.add_argument("--baseline", type=Path, help="baseline JSON to compare against")
    parser.add_argument("--update-baseline", action="store_true", help="write this measurement as the baseline")
    parser.add_argument("--runs", type=int, help="timed runs per process (default: the target's bench.runs)")
    parser.add_argument("--threads", type=int, help="runtime threads (default: the target's bench.threads)")
    parser.add_argument("--warmup", type=int, help="warm-up runs (default: the target's bench.warmup)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="fresh runner processes per model; --android: alternating rounds (default 5)",
    )
    parser.add_argument("--threshold", type=float, default=0.10, help="ratio growth that counts (default 0.10)")
    remote = parser.add_argument_group("remote board (overrides the target's bench.remote*)")
    remote.add_argument("--remote", metavar="[USER@]HOST[:PORT]", help="run on a Linux board over SSH")
    remote.add_argument("--remote-key", help="SSH private key for the board")
    remote.add_argument("--remote-python", help="python on the board (default python3)")
    remote.add_argument("--remote-workdir", help="scratch folder on the board (default /tmp/edgeprune)")
    remote.add_argument("--known-hosts", help="known_hosts file pinning board keys (default ~/.cache/edgeprune/)")
    android = parser.add_argument_group("Android device (adb + TensorFlow Lite's benchmark_model)")
    android.add_argument("--android", nargs="?", const="", metavar="SERIAL",
                         help="time .tflite artifacts on an Android device over adb (SERIAL: adb -s; default the only"
                         " device attached)")  # fmt: skip
    android.add_argument("--android-binary", default="/data/local/tmp/benchmark_model",
                         help="benchmark_model on the device (default /data/local/tmp/benchmark_model)")  # fmt: skip
    android.add_argument("--adb", default="adb", help="adb executable (default: adb on PATH)")


def parse_models(specs: list[str]) -> dict[str, Path]:
    """``[NAME=]PATH`` strings to an ordered name -> path mapping."""
    models: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or "/" in name:
            name, path = Path(spec).stem, spec
        if name in models:
            raise EdgepruneError(f"--model {spec}: name {name!r} given twice; use NAME=ARTIFACT to tell them apart")
        models[name] = Path(path)
    return models


def _positive(value: int | None, flag: str, low: int = 1) -> int | None:
    if value is not None and value < low:
        raise EdgepruneError(f"{flag} must be >= {low}, got {value}")
    return value


def _protocol(target: Target, args: argparse.Namespace) -> Protocol:
    bench = target.bench
    threads, runs = _positive(args.threads, "--threads"), _positive(args.runs, "--runs")
    warmup = _positive(args.warmup, "--warmup", 0)
    _positive(args.repeats, "--repeats")
    return Protocol(
        runtime=target.runtime,
        threads=bench.threads if threads is None else threads,
        warmup=bench.warmup if warmup is None else warmup,
        runs=bench.runs if runs is None else runs,
        min_seconds=bench.min_seconds,
        cores=tuple(bench.cores),
        xnnpack=bool(getattr(bench, "xnnpack", True)),
    )


def _measure_many(bench: BenchConfig, args: argparse.Namespace) -> MeasureMany:
    """Local, or over SSH when ``--remote`` or the target's ``bench.remote`` names a board."""
    spec = args.remote or getattr(bench, "remote", "") or ""
    if not spec:
        return local_measure_many
    kwargs = {
        "key_file": args.remote_key or getattr(bench, "remote_key", "") or None,
        "python": args.remote_python or getattr(bench, "remote_python", "") or "python3",
        "workdir": args.remote_workdir or getattr(bench, "remote_workdir", "") or "/tmp/edgeprune",
    }
    if args.known_hosts:
        kwargs["known_hosts"] = args.known_hosts
    return SshRunner.from_spec(spec, **kwargs).measure_many


def _load_baseline(path: Path) -> dict:
    return read_json(path, "baseline")


def _models_from_baseline(path: Path | None) -> dict[str, Path]:
    if path is None or not path.is_file():
        raise EdgepruneError("no --artifact given (and no baseline to take the artifact list from)")
    return {name: Path(m["path"]) for name, m in _load_baseline(path)["models"].items()}


def _print_table(record: dict, gate: GateResult | None) -> None:
    from rich.console import Console
    from rich.table import Table

    proto = record["protocol"]
    where = record.get("remote") or {}
    title = (f"{record.get('target', '')}: {proto['runtime']}, {proto['threads']} thread(s), {proto['runs']} runs x "
             f"{proto['repeats']} repeats{' on ' + where['host'] if where else ''}; reference "
             f"{record['reference']['name']}")  # fmt: skip
    table = Table(title=title)
    for col in ("model", "size KB", "p50 ms", "reference", "ref ms", "ratio", "noise", "baseline", "change", "verdict"):
        table.add_column(col, justify="left" if col in ("model", "reference", "verdict") else "right")
    verdicts = {v.name: v for v in gate.verdicts} if gate else {}
    for name, m in record["models"].items():
        v = verdicts.get(name)
        base = f"{v.baseline_ratio:.3f}" if v and v.baseline_ratio is not None else "-"
        change = f"{v.change:+.1%}" if v and v.change is not None else "-"
        status = v.status if v else "-"
        style = {"regression": "bold red", "faster": "green"}.get(status, "")
        ref = m["reference"]
        table.add_row(name, f"{m['size_bytes'] / 1024:.1f}", f"{m['p50_ms']:.3f}", ref["name"].split("/")[-1],
                      f"{ref['p50_ms']:.3f}", f"{m['ratio']:.3f}",
                      f"{m['noise']:.1%}", base, change, f"[{style}]{status}[/]" if style else status)  # fmt: skip
    for v in gate.verdicts if gate else ():
        if v.status == "missing":
            table.add_row(v.name, "-", "-", "-", "-", "-", "-", f"{v.baseline_ratio:.3f}", "-", "missing")
    console = Console()
    if not console.is_terminal:  # logs and CI: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    for note in gate.notes if gate else ():
        console.print(f"note: {note}")
    for v in gate.regressions if gate else ():
        console.print(f"[bold red]REGRESSION[/] {v.message}")


def _run_android(target: Target, args: argparse.Namespace) -> int:
    """Alternating benchmark_model rounds on the device; a table with the speedup over the first artifact."""
    if args.baseline is not None or args.update_baseline or args.remote:
        raise EdgepruneError("--android measures and tabulates only: drop --baseline/--update-baseline/--remote")
    if not args.artifact:
        raise EdgepruneError("--android needs --artifact [NAME=]FILE.tflite (repeatable)")
    protocol = _protocol(target, args)
    name = f"{target.name}-android.json"
    folder = prepare(args.out or "build/bench", "bench", args.force, replace=False, writes=(name,))
    runner = AdbRunner(binary=args.android_binary, serial=args.android or None, adb=args.adb)
    with writing(folder) as staging:
        result = measure_android(parse_models(args.artifact), runner, protocol.threads, protocol.warmup,
                                 protocol.runs, args.repeats, protocol.xnnpack)  # fmt: skip
        write_json(staging / name, result.to_dict())
    _print_android(result)
    print(f"wrote {folder.given / name}")
    return 0


def _print_android(result: AndroidMeasurement) -> None:
    from rich.console import Console
    from rich.table import Table

    where = result.serial or "the adb device"
    xnn = "on" if result.xnnpack else "off"
    title = (f"{where}: benchmark_model, {result.threads} thread(s), {result.runs} runs x {result.repeats}"
             f" alternating rounds, XNNPACK {xnn}")  # fmt: skip
    table = Table(title=title)
    for col in ("model", "size KB", "latency ms", "statistic", "init ms", "memory MB", "XNNPACK", "speedup vs first"):
        table.add_column(col, justify="left" if col in ("model", "statistic", "XNNPACK") else "right")
    for t in result.timings:
        mem = "-" if t.memory_mb is None else f"{t.memory_mb:.1f}"
        init = "-" if t.init_ms is None else f"{t.init_ms:.1f}"
        table.add_row(t.name, f"{t.size_bytes / 1024:.1f}", f"{t.latency_ms:.3f}", t.statistic, init, mem,
                      "yes" if t.xnnpack else "no", f"{result.speedup(t):.2f}x")  # fmt: skip
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    target = load_target(args.target, check=False)
    if args.android is not None:
        return _run_android(target, args)
    if args.update_baseline and args.baseline is None:
        raise EdgepruneError("--update-baseline needs --baseline FILE")
    if args.baseline is not None and not args.baseline.is_file() and not args.update_baseline:
        raise EdgepruneError(f"baseline {args.baseline} does not exist; create it with --update-baseline")
    models = parse_models(args.artifact) if args.artifact else _models_from_baseline(args.baseline)
    protocol = _protocol(target, args)
    name = f"{target.name}.json"
    folder = prepare(args.out or "build/bench", "bench", args.force, replace=False, writes=(name,))
    baseline = _load_baseline(args.baseline) if args.baseline is not None and args.baseline.is_file() else None
    if args.reference:
        references, kind = {Path(args.reference).name: Path(args.reference)}, Path(args.reference).name
    else:
        references, kind = builtin_ladder(protocol.runtime), LADDER
    record = measure_ratios(
        models,
        references,
        protocol,
        repeats=args.repeats,
        measure_many=_measure_many(target.bench, args),
        reference_kind=kind,
        fixed=baseline_rungs(baseline) if not args.update_baseline else None,
    )
    record["target"] = target.name
    gate = None
    if baseline is not None:
        try:
            gate = compare(record, baseline, threshold=args.threshold)
        except BaselineMismatchError:
            if not args.update_baseline:
                raise
    with writing(folder) as staging:
        write_json(staging / name, {**record, "gate": gate.to_dict() if gate else None})
    _print_table(record, gate)
    print(f"wrote {folder.given / name}")
    if args.update_baseline:
        write_json(args.baseline, record)
        print(f"baseline updated: {args.baseline}")
        return 0
    return 0 if gate is None or gate.passed else 1
