"""Zoo coverage: every torchvision classification architecture and a fixed timm set, random weights at native
resolution: analyze, prune to 0.5x MACs (uniform ratio, round_to 8), export ONNX and TFLite fp32, parity <= 1e-4.

One process per model with a time limit (``benchmarks/zoo/check.py``); each result is cached in
``build/coverage/<source>__<arch>.json``, so an interrupted run continues where it stopped (``--force`` redoes).
Writes docs/coverage.md (the table) and docs/coverage.json (the rows, read by tests/graph/test_zoo.py).

Usage: PYTHONPATH=src python benchmarks/zoo_coverage.py --all [--force] [--timeout 3600] [--threads 2]
       (``make coverage``); without --all it runs 3 models chosen by date (``--sample N``) or ``--archs a,b``
       and leaves the docs alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "zoo"))

from archs import Arch, all_archs, cheapest_first, time_limit

from edgeprune.atomic import write_json, write_text
from edgeprune.errors import run_script

ROOT = Path(__file__).resolve().parents[1]
CHECK = Path(__file__).resolve().parent / "zoo" / "check.py"


def rotating_sample(archs: list[Arch], count: int, day: datetime.date | None = None) -> list[Arch]:
    """``count`` architectures picked by the date: a different slice of the zoo every day."""
    day = day or datetime.date.today()
    start = (day.toordinal() * count) % len(archs)
    return [archs[(start + k) % len(archs)] for k in range(count)]


def _stalled(arch: Arch, progress: Path, why: str, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if progress.exists():
        try:
            row = json.loads(progress.read_text())
        except json.JSONDecodeError:
            row = {}
    stage = row.get("stage", "build")
    row.update(
        source=arch.source,
        arch=arch.name,
        family=arch.family,
        input_shape=list(arch.input_shape),
        passed=False,
        stage=stage,
        reason=f"{why} during {stage}",
        seconds=round(seconds, 1),
    )
    row.setdefault("apply_failures", [])
    return row


def run_one(arch: Arch, timeout: int, threads: int, cache: Path) -> dict[str, Any]:
    """Run the check of ``arch`` in its own (niced) process; a timeout or crash is a row too."""
    out = cache / f"{arch.key}.json"
    progress = Path(str(out) + ".progress")
    progress.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "EDGEPRUNE_NO_PROGRESS": "1"}
    command = [sys.executable, str(CHECK), arch.source, arch.name, "--out", str(out), "--threads", str(threads)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        row = _stalled(arch, progress, f"timed out after {timeout} s", time.perf_counter() - start)
        write_json(out, row)
        return row
    if done.returncode != 0 or not out.exists():
        code = done.returncode
        why = "killed (out of memory?)" if code in (-9, 137) else f"process exited with code {code}"
        last = (done.stderr.strip().splitlines() or [""])[-1][:200]
        row = _stalled(arch, progress, f"{why}{': ' + last if last else ''}", time.perf_counter() - start)
        write_json(out, row)
        return row
    return json.loads(out.read_text())


def _meta(cache: Path) -> dict[str, Any]:
    path = cache / "run.json"
    return json.loads(path.read_text()) if path.exists() else {"wall_s": 0.0}


def _add_wall(cache: Path, seconds: float) -> None:
    """Wall time of the run, summed over models (an interrupted, resumed run adds up)."""
    meta = _meta(cache)
    meta["wall_s"] = round(meta.get("wall_s", 0.0) + seconds, 1)
    write_json(cache / "run.json", meta)


NOT_RUN = "not run"
SOURCES = ("torchvision", "timm", "detector")


def _cached_or_not_run(cache: Path, arch: Arch) -> dict[str, Any]:
    """The cached result of ``arch``, or a row saying it has not been run yet."""
    path = cache / f"{arch.key}.json"
    if path.exists():
        return json.loads(path.read_text())
    reason = "not run yet: the run stopped before this model (cheapest first); `make coverage` continues it"
    return {
        "source": arch.source,
        "arch": arch.name,
        "family": arch.family,
        "input_shape": list(arch.input_shape),
        "passed": False,
        "stage": NOT_RUN,
        "reason": reason,
        "apply_failures": [],
    }


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _weights_line(fresh: int, ran: int) -> str:
    """How many of the rows run had their weights made non-degenerate first."""
    if fresh == ran:
        return (
            f"**Weights:** every row run ({ran}) ran on non-degenerate weights (column `weights`: the norms and"
            " constants set)."
        )
    return (
        f"**Weights:** {fresh} of {ran} rows run on non-degenerate weights (column `weights`: the norms and constants"
        f" set); the other {ran - fresh} are from an earlier run on each architecture's own initialization (`own"
        " init`), kept until `make coverage --force` reruns them."
    )


def markdown(rows: list[dict[str, Any]], wall_s: float | None) -> str:
    by_source = {s: [r for r in rows if r["source"] == s and r["stage"] != NOT_RUN] for s in SOURCES}
    unrun = {s: sum(r["source"] == s and r["stage"] == NOT_RUN for r in rows) for s in by_source}
    summary = ", ".join(
        f"{s} {sum(r['passed'] for r in rs)} / {len(rs)} run "
        f"({100 * sum(r['passed'] for r in rs) / max(len(rs), 1):.0f}%), {unrun[s]} not run yet"
        for s, rs in by_source.items()
    )
    commits = sorted({r.get("commit", "") for r in rows if r.get("commit")})
    ran = sum(r["stage"] != NOT_RUN for r in rows)
    fresh = sum(r["stage"] != NOT_RUN and "init" in r for r in rows)
    lines = [
        "# Zoo coverage",
        "",
        "Generated by `make coverage` (`benchmarks/zoo_coverage.py`). Every classification architecture of",
        "`torchvision.models.list_models(module=torchvision.models)` and a fixed set of timm architectures chosen",
        "across families (`benchmarks/zoo/archs.py`), random weights, 10 classes, at native resolution (torchvision:",
        "the smallest crop size among the model's published weights; timm: the default config's input size).",
        "Rows marked `non-degenerate` had their weights set first (`make_non_degenerate`, seed 0): every",
        "norm's weight and bias random per channel, its running statistics measured on random inputs and then",
        "shifted and scaled per channel at random, and every other constant parameter (timm's zero-init-last norms,",
        "ConvNeXt's 1e-6 layer scales, ViT's zeroed head) random, so every branch carries signal and parity tests",
        "the channels pruned in it (each row's `init` says how many norms and constants were set).",
        "",
        "Detectors (source `detector`): Ultralytics YOLOv8n/s and YOLO11n/s (640x640, their native size),",
        "torchvision's SSDlite320 (320x320) and FCOS ResNet50-FPN (512x512; its native 800x800 is ~130 GMACs), each in",
        "edgeprune's export form (`edgeprune.models.detectors`: image in, raw head tensors out, decoding and NMS",
        "outside the graph), 10 classes; parity is checked on every head output (the worst relative error counts).",
        "Each: `analyze` (every group verified by pruning it on a copy), prune to <= 0.5x MACs with one uniform",
        "ratio over the verified groups (bisected, `round_to` 8, at most 90% of a group), export ONNX and TFLite fp32",
        "through `edgeprune.export.export_model`, each checked against the pruned torch model on 2 random inputs",
        "(relative error <= 1e-4). MACs are edgeprune's one counter (conv, linear, attention matmuls).",
        "",
        f"**Pass: {summary}.** Failures that are exporter limits (the unpruned model fails to export the same"
        f" way): {sum(r.get('unpruned_exports') is False for r in rows)}."
        + (
            f" Wall time of the run: {wall_s / 3600:.1f} h on this 2-core machine,"
            f" {'/'.join(str(t) for t in sorted({r['torch_threads'] for r in rows if r.get('torch_threads')}))}"
            " torch thread(s) per model (see each row's JSON)."
            if wall_s
            else ""
        ),
        f"torch {_versions()}; code at commit(s) {', '.join(commits) or '-'}.",
        "",
        _weights_line(fresh, ran),
        "",
        "| source | arch | input | result | weights | MACs (G) | MACs after / before | params after / before | ratio "
        "| groups (prunable) | MACs in prunable groups | analyze s | prune s | ONNX s / rel err | TFLite s / rel err"
        " | reason |",
        "|---|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        side = "x".join(str(d) for d in r["input_shape"][2:])
        result = "pass" if r["passed"] else (NOT_RUN if r["stage"] == NOT_RUN else f"FAIL at {r['stage']}")
        groups = f"{r['groups']} ({r['prunable']})" if "groups" in r else "-"
        macs = _cell(r["macs"] / 1e9 if r.get("macs") else None)
        onnx = f"{_cell(r.get('onnx_s'))} / {_cell(r.get('onnx_rel_err'), 2)}" if r.get("onnx_s") is not None else "-"
        tfl = (
            f"{_cell(r.get('tflite_s'))} / {_cell(r.get('tflite_rel_err'), 2)}"
            if r.get("tflite_s") is not None
            else "-"
        )
        reason = (r.get("reason") or "-").replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {r['source']} | {r['arch']} | {side} | {result} | {_weights(r)} | {macs}"
            f" | {_cell(r.get('macs_ratio'))} "
            f"| {_cell(r.get('params_ratio'))} | {_cell(r.get('ratio'))} | {groups} | {_cell(r.get('macs_covered'))}"
            f" | {_cell(r.get('analyze_s'))} "
            f"| {_cell(r.get('prune_s'))} | {onnx} | {tfl} | {reason} |"
        )
    return "\n".join(lines) + "\n"


def _weights(row: dict[str, Any]) -> str:
    """How the row's model was initialized: non-degenerate (norms / constants set) or its own init (earlier runs)."""
    if row["stage"] == NOT_RUN:
        return "-"
    init = row.get("init")
    return f"non-degenerate ({init['norms']} / {init['constants']})" if init else "own init"


def _versions() -> str:
    from edgeprune.versions import versions

    found = versions()  # installed distributions (torch_pruning.__version__ says 1.6.0 in the 1.6.1 wheel)
    return f"{found['torch']}, torch-pruning {found['torch-pruning']}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="", help="comma-separated names (default: the whole set)")
    parser.add_argument("--source", choices=["all", *SOURCES], default="all")
    parser.add_argument("--force", action="store_true", help="redo models that have a cached result")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per model (the largest get more)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--all", action="store_true", help="the whole set; rewrites docs/coverage.md and .json")
    parser.add_argument("--sample", type=int, default=3, help="without --all: N models, rotated by date")
    parser.add_argument(
        "--report", action="store_true", help="run nothing: rewrite the docs from the cached results (unrun: 'not run')"
    )
    parser.add_argument("--cache", default=str(ROOT / "build" / "coverage"), help="one JSON result per model")
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "coverage.md"))
    parser.add_argument("--json", default=str(ROOT / "docs" / "coverage.json"))
    args = parser.parse_args(argv)
    archs = [a for a in all_archs() if args.source in ("all", a.source)]
    if args.archs:
        wanted = set(args.archs.split(","))
        archs = [a for a in archs if a.name in wanted]
    if not args.all and not args.archs:
        archs = rotating_sample(archs, args.sample)
    archs = cheapest_first(archs)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for k, arch in enumerate([] if args.report else archs, 1):
        out = cache / f"{arch.key}.json"
        if out.exists() and not args.force:
            continue
        started = time.perf_counter()
        row = run_one(arch, time_limit(arch, args.timeout), args.threads, cache)
        _add_wall(cache, time.perf_counter() - started)
        verdict = "pass" if row["passed"] else f"FAIL at {row['stage']}: {row['reason'][:140]}"
        print(f"[{k}/{len(archs)}] {arch.key} {row.get('seconds', '-')} s {verdict}", flush=True)
    everything = {a.key: a for a in all_archs()}
    rows = [_cached_or_not_run(cache, arch) for arch in everything.values()]
    if not (args.all or args.report) or args.archs:
        rows = [r for r in rows if r["stage"] != NOT_RUN]
        print(f"{sum(r['passed'] for r in rows)}/{len(rows)} cached rows pass (docs not rewritten for a partial run)")
        return 0
    meta = _meta(cache)
    write_text(args.markdown, markdown(rows, meta["wall_s"]))
    write_json(args.json, {"wall_s": meta["wall_s"], "rows": rows})
    for source in SOURCES:
        rs = [r for r in rows if r["source"] == source]
        run = [r for r in rs if r["stage"] != NOT_RUN]
        print(f"{source}: {sum(r['passed'] for r in rs)}/{len(rs)} pass ({len(rs) - len(run)} not run)")
    print(f"wrote {args.markdown} and {args.json} (run wall time {meta['wall_s'] / 3600:.2f} h)")
    return 0


if __name__ == "__main__":
    run_script(main)
