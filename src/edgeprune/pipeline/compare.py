"""compare_formats(): the unpruned and the pruned model exported to every format and precision, each verified, and
all of them timed interleaved in one runner process (each artifact on its own format's runtime).

The ``edgeprune compare`` command calls it; the record it returns renders as the cross-format table.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from edgeprune.atomic import write_json, write_text
from edgeprune.bench.harness import Protocol
from edgeprune.bench.measurement import Measurement, time_together
from edgeprune.config import ExportConfig
from edgeprune.data import Data
from edgeprune.errors import ConfigError
from edgeprune.export import VerifiedArtifact, export_verified
from edgeprune.formats import format_named
from edgeprune.pipeline import outputs
from edgeprune.pipeline.chain import figures
from edgeprune.report import DataSummary, TaskSummary, TimedArtifact, versions
from edgeprune.report.comparison import FormatComparison, FormatRow, render_comparison_markdown
from edgeprune.task import Task


@dataclass(frozen=True)
class Variant:
    """One format at one precision."""

    format: str
    precision: str


def parse_variants(text: str) -> list[Variant]:
    """``"tflite:fp32,onnx:fp32"`` -> variants, checked against the format table; the first must be fp32 (it is
    the reference of every row)."""
    variants = []
    for item in (p.strip() for p in text.split(",")):
        fmt, _, precision = item.partition(":")
        precision = precision or "fp32"
        if not fmt:
            raise ConfigError(f"--formats '{text}': empty format name (expected FORMAT[:PRECISION],...)")
        written = format_named(fmt).precisions
        if precision not in written:
            raise ConfigError(f"--formats: format '{fmt}' writes {list(written)}, not {precision!r}")
        if Variant(fmt, precision) in variants:
            raise ConfigError(f"--formats: '{item}' is listed twice")
        variants.append(Variant(fmt, precision))
    if not variants or variants[0].precision != "fp32":
        raise ConfigError(f"--formats '{text}': the first entry must be fp32 (it is every row's speedup reference)")
    return variants


@dataclass(frozen=True)
class CompareRequest:
    """What to compare and how to measure it."""

    variants: list[Variant]
    protocol: Protocol  # runtime "" : each artifact on its suffix's runtime
    calibration_samples: int = 200
    parity_samples: int = 1000


def _export(
    role: str, model: nn.Module, folder: Path, v: Variant, req: CompareRequest, data: Data, task: Task, plan_hash: str
) -> VerifiedArtifact:
    cfg = ExportConfig(
        format=v.format, precision=v.precision, calibration_samples=req.calibration_samples,
        parity_samples=req.parity_samples,
    )  # fmt: skip
    hash_ = plan_hash if role == "pruned" else None
    _, record = export_verified(role, model, folder, cfg, v.precision, data, task, hash_)
    print(f"[edgeprune] exported {record.name}: parity rel. err {record.parity.rel_err:.2e}", flush=True)
    return record


def _rows(records: list[VerifiedArtifact], measured: Measurement, out: Path) -> tuple[list[FormatRow], str]:
    """Speedups from the one run: over the unpruned fp32 of the same format, and over the first format's."""
    fp32 = {r.format: r.path for r in records if r.role != "pruned" and r.precision == "fp32"}
    reference = fp32[records[0].format]
    rows = []
    for r in records:
        same = fp32.get(r.format, reference)
        final = dataclasses.replace(r, path=str(out / Path(r.path).name))
        timed = TimedArtifact(final, measured.of(r.path), measured.speedup(same, r.path))
        rows.append(FormatRow(timed, measured.speedup(reference, r.path)))
    return rows, Path(reference).name


def compare_formats(
    baseline: nn.Module,
    pruned: nn.Module,
    pruned_dir: str,
    model_spec: str,
    data: Data,
    task: Task,
    req: CompareRequest,
    out: Path,
    force: bool = False,
) -> FormatComparison:
    """Export both models in every variant into ``out`` (verified), time them together, write compare.json/.md."""
    from edgeprune.hashing import sha256_file

    start = time.perf_counter()
    plan_hash = sha256_file(Path(pruned_dir) / "plan.json") if (Path(pruned_dir) / "plan.json").is_file() else ""
    folder = outputs.prepare(out, "compare", force, inputs=[outputs.Input("--pruned", Path(pruned_dir))])
    with outputs.writing(folder) as staging:
        records = []
        for v in req.variants:
            for role, model in (("baseline", baseline), ("pruned", pruned)):
                records.append(_export(role, model, staging, v, req, data, task, plan_hash))
        measured = time_together([r.path for r in records], req.protocol)
        rows, reference = _rows(records, measured, out)
        result = FormatComparison(
            model=model_spec,
            pruned_dir=str(pruned_dir),
            data=DataSummary(**data.describe()),
            task=TaskSummary(**task.describe()),
            baseline=figures(baseline, data, task),
            pruned=figures(pruned, data, task),
            reference=reference,
            rows=rows,
            bench=dataclasses.replace(measured, latency={}),
            versions=versions(),
            wall_s=round(time.perf_counter() - start, 1),
        )
        write_json(staging / "compare.json", result.to_dict())
        write_text(staging / "compare.md", render_comparison_markdown(result))
    return result
