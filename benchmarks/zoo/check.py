"""One architecture of the coverage run: analyze, prune to 0.5x MACs, export ONNX and TFLite fp32 with parity.

Run as ``python benchmarks/zoo/check.py SOURCE NAME --out FILE``; writes one JSON row. Every failure becomes a
one-line reason naming the module and the op (edgeprune's errors already do; anything else gets the innermost
frame). The stage reached is written to ``FILE.progress`` as it goes, so a run killed for time or memory still
says where it was.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from archs import Arch, all_archs, build

from edgeprune.errors import EdgepruneError

BUDGET = 0.5  # MACs of the pruned model / MACs of the unpruned one
ROUND_TO = 8
MAX_RATIO = 0.9
SAMPLES = 2  # random inputs the exported files are compared on


def one_line(exc: BaseException) -> str:
    """The error as one line; errors that are not edgeprune's also name the innermost frame (file:line: op)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EdgepruneError):
        return text[:600]
    frames = traceback.extract_tb(exc.__traceback__)
    inner = frames[-1] if frames else None
    where = f" at {os.path.basename(inner.filename)}:{inner.lineno}: {(inner.line or '').strip()}" if inner else ""
    return f"{type(exc).__name__}: {text}{where}"[:600]


def _commit() -> str:
    if os.environ.get("EDGEPRUNE_CODE_COMMIT"):  # a run from an exported snapshot of the code
        return os.environ["EDGEPRUNE_CODE_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""


class Row:
    """The result row, written to the progress file at every stage."""

    def __init__(self, arch: Arch, progress: Path | None) -> None:
        self.data: dict[str, Any] = {
            "source": arch.source,
            "arch": arch.name,
            "family": arch.family,
            "input_shape": list(arch.input_shape),
            "passed": False,
            "stage": "build",
            "reason": "",
            "apply_failures": [],
            "commit": _commit(),
            "torch_threads": torch.get_num_threads(),
        }
        self.progress = progress
        self.start = time.perf_counter()

    def stage(self, name: str) -> None:
        self.data["stage"] = name
        self.data["seconds"] = round(time.perf_counter() - self.start, 1)
        if self.progress is not None:
            self.progress.write_text(json.dumps(self.data))

    def update(self, **fields: Any) -> None:
        self.data.update(fields)


def _largest_left_alone(analysis: Any, limit: int = 2) -> str:
    rows = sorted((g for g in analysis.groups if not g["prunable"]), key=lambda g: -g["macs_share"])
    parts = [f"'{g['root']}' ({100 * g['macs_share']:.0f}% MACs: {g['note'][:140]})" for g in rows[:limit]]
    return "; ".join(parts)


def find_ratio(prune_at: Any, budget: float, max_ratio: float = MAX_RATIO, tries: int = 8) -> tuple[float, Any, float]:
    """The least uniform ratio whose MACs fraction is at most ``budget``, within 0.08 below it.

    ``prune_at(r)`` returns (result, fraction). The fraction behaves like ``a + b (1 - r)^2`` (the unprunable
    part plus the part that shrinks on both sides of every layer); each step fits that through the closest
    points below and above the budget, aiming a little under it (about 3 prunes instead of a bisection's 9)."""
    points = [(0.0, 1.0)]
    best: tuple[float, Any, float] | None = None
    ratio = 1.0 - (budget - 0.03) ** 0.5
    for _ in range(tries):
        result, fraction = prune_at(ratio)
        points.append((ratio, fraction))
        if fraction <= budget and (best is None or ratio < best[0]):
            best = (ratio, result, fraction)
        if best is not None and best[2] >= budget - 0.08:
            break
        above = max((p for p in points if p[1] > budget), key=lambda p: p[0])
        below = [p for p in points if p[1] <= budget]
        if not below and above[0] >= max_ratio:
            break
        low = min(below, key=lambda p: p[0]) if below else None
        ratio = _next_ratio(above, low or sorted(points)[-2], budget - 0.03)
        ratio = min(max_ratio, max(ratio, above[0] + 0.01))
        if low is not None:
            ratio = min(ratio, low[0] - 0.005)
        if any(abs(ratio - p[0]) < 1e-4 for p in points):
            break
    if best is None:
        raise EdgepruneError(f"pruning {max_ratio:.0%} of every verified group leaves {points[-1][1]:.3f}x MACs")
    return best


def _next_ratio(a: tuple[float, float], b: tuple[float, float], target: float) -> float:
    """Ratio where ``f = c + k (1 - r)^2`` through points ``a`` and ``b`` reaches ``target``."""
    ua, ub = (1 - a[0]) ** 2, (1 - b[0]) ** 2
    if abs(ua - ub) < 1e-9:
        return a[0] + 0.15
    k = (a[1] - b[1]) / (ua - ub)
    c = a[1] - k * ua
    if k <= 0 or target <= c:
        return 1.0  # the unprunable part alone is above the target: go as far as allowed
    return 1.0 - ((target - c) / k) ** 0.5


def _prune(model: torch.nn.Module, x: torch.Tensor, row: Row, analysis: Any) -> tuple[torch.nn.Module, Any, int]:
    from edgeprune.prune import apply_plan, count_macs_params, make_plan

    base_macs, base_params = count_macs_params(model, x)
    failures: list[str] = row.data["apply_failures"]
    tried: list[list[float]] = []

    def prune_at(ratio: float) -> tuple[Any, float]:
        plan = make_plan(model, x, ratio, round_to=ROUND_TO, max_ratio=MAX_RATIO)
        try:
            pruned = apply_plan(copy.deepcopy(model), plan, x)
        except EdgepruneError as exc:  # a verified group failed at apply: the property the run checks
            failures.append(f"ratio {ratio:.3f}: {one_line(exc)}")
            raise
        fraction = count_macs_params(pruned, x)[0] / base_macs
        tried.append([round(ratio, 4), round(fraction, 4)])
        return (pruned, plan), fraction

    try:
        ratio, (pruned, plan), _ = find_ratio(prune_at, BUDGET)
    except EdgepruneError as exc:
        if failures:
            raise
        raise EdgepruneError(
            f"{BUDGET}x MACs not reached: {one_line(exc)}; largest left alone: {_largest_left_alone(analysis)}"
        ) from None
    macs, params = count_macs_params(pruned, x)
    row.update(
        ratio=round(ratio, 4),
        macs=base_macs,
        params=base_params,
        macs_ratio=round(macs / base_macs, 4),
        params_ratio=round(params / base_params, 4),
        pruned_groups=len(plan.groups),
        left_alone=len(plan.left_alone),
        tried=tried,
    )
    return pruned, plan, macs


def _export(model: torch.nn.Module, x: torch.Tensor, row: Row, tmp: Path) -> None:
    from edgeprune.export import export_model

    torch.manual_seed(1)
    samples = torch.randn(SAMPLES, *x.shape[1:])
    for fmt in ("onnx", "tflite"):
        row.stage(fmt)
        start = time.perf_counter()
        artifact = export_model(model, x, tmp / f"model.{fmt}", fmt, "fp32", samples=samples, force=True)
        verification = artifact.metadata.get("verification", {})
        row.update(
            **{
                f"{fmt}_s": round(time.perf_counter() - start, 1),
                f"{fmt}_rel_err": verification.get("rel_err"),
                f"{fmt}_mb": round(artifact.size_bytes / 1e6, 2),
            }
        )
        (tmp / f"model.{fmt}").unlink(missing_ok=True)


def _blame_exporter(arch: Arch, x: torch.Tensor, row: Row, tmp: Path, exc: Exception) -> Exception:
    """After a failed export of the pruned model, export the unpruned one the same way: if that fails too, the
    limit is the exporter's, not pruning's, and the reason says so (``unpruned_exports`` in the row)."""
    from edgeprune.export import export_model

    fmt = row.data["stage"]
    try:
        export_model(_built(arch)[0], x, tmp / f"unpruned.{fmt}", fmt, "fp32", force=True)
    except Exception:
        row.update(unpruned_exports=False)
        return EdgepruneError(f"exporter limit, the unpruned model fails too: {one_line(exc)}")
    row.update(unpruned_exports=True)
    return exc


def _built(arch: Arch, row: Row | None = None) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model in eval mode with non-degenerate random weights (seed 0; every norm's weight, bias and running
    statistics, and every other constant parameter: see ``edgeprune.models.init``), and its example input."""
    from edgeprune.models.init import make_non_degenerate

    torch.manual_seed(0)
    model = build(arch).eval()
    x = torch.randn(*arch.input_shape)
    done = make_non_degenerate(model, seed=0, example=x)
    if row is not None:
        row.update(init={"norms": done.norms, "constants": done.constants, "statistics_measured": done.calibrated})
    return model, x


def check(arch: Arch, progress: Path | None = None, export: bool = True) -> dict[str, Any]:
    """Run every stage on ``arch``; the row says how far it got and why it stopped."""
    from edgeprune.graph import analyze

    row = Row(arch, progress)
    try:
        model, x = _built(arch, row)
        row.stage("analyze")
        start = time.perf_counter()
        analysis = analyze(model, x, round_to=ROUND_TO, verify_blocks=False, name=arch.name)
        left = [g for g in analysis.groups if not g["prunable"]]
        row.update(
            analyze_s=round(time.perf_counter() - start, 1),
            groups=len(analysis.groups),
            prunable=len(analysis.groups) - len(left),
            prunable_macs_share=round(sum(g["macs_share"] for g in analysis.groups if g["prunable"]), 3),
            macs_covered=analysis.prunable_macs_share,
            left_alone_reasons=sorted({g["note"][:160] for g in left})[:6],
        )
        row.stage("prune")
        start = time.perf_counter()
        pruned, _, _ = _prune(model, x, row, analysis)
        row.update(prune_s=round(time.perf_counter() - start, 1))
        del model
        if export:
            with tempfile.TemporaryDirectory(prefix="edgeprune-zoo-") as tmp:
                try:
                    _export(pruned.eval(), x, row, Path(tmp))
                except Exception as exc:
                    raise _blame_exporter(arch, x, row, Path(tmp), exc) from None
        row.update(passed=True)
        row.stage("done")
    except Exception as exc:  # every failure is a row with its one-line reason
        row.update(reason=one_line(exc))
        row.data["seconds"] = round(time.perf_counter() - row.start, 1)
    return row.data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", choices=["torchvision", "timm", "detector"])
    parser.add_argument("name")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")
    arch = next((a for a in all_archs() if a.source == args.source and a.name == args.name), None)
    if arch is None:
        print(f"error: {args.source} architecture '{args.name}' is not in the coverage set", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    row = check(arch, Path(str(out) + ".progress"), export=not args.no_export)
    out.write_text(json.dumps(row, indent=1))
    Path(str(out) + ".progress").unlink(missing_ok=True)
    print(f"{arch.key}: {'pass' if row['passed'] else 'FAIL at ' + row['stage']} {row['reason'][:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
