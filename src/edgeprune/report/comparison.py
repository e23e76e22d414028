"""The cross-format table: the unpruned and the pruned model in every format and precision, all timed in one
runner process. ``compare.json`` is ``FormatComparison.to_dict()``; ``compare.md`` renders its attributes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeprune.bench.measurement import Latency, Measurement
from edgeprune.errors import EdgepruneError
from edgeprune.export.verified import VerifiedArtifact
from edgeprune.report.record import DataSummary, ModelFigures, TaskSummary, TimedArtifact
from edgeprune.report.tables import Table, fmt_bytes, fmt_count, memory_line, to_markdown

COMPARISON_VERSION = 1


@dataclass(frozen=True)
class FormatRow:
    """One artifact of the table: its checks, its timing, and two speedups from the same run."""

    timed: TimedArtifact  # speedup: over the unpruned fp32 artifact of the same format
    vs_reference: float  # over the one reference of every row (the unpruned fp32 of the first format)

    @property
    def artifact(self) -> VerifiedArtifact:
        return self.timed.artifact

    @property
    def model(self) -> str:
        return "pruned" if self.artifact.role == "pruned" else "unpruned"


@dataclass(frozen=True)
class FormatComparison:
    """Every format x precision for the unpruned and the pruned model, measured interleaved in one process."""

    model: str
    pruned_dir: str
    data: DataSummary
    task: TaskSummary
    baseline: ModelFigures
    pruned: ModelFigures
    reference: str  # file name of the row every ``vs_reference`` divides
    rows: list[FormatRow]
    bench: Measurement  # protocol and runner memory; per-artifact latency lives in the rows
    versions: dict[str, str]
    wall_s: float
    notes: list[str] = field(default_factory=list)
    version: int = COMPARISON_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FormatComparison:
        if data.get("version") != COMPARISON_VERSION:
            raise EdgepruneError(
                f"comparison: field 'version' is {data.get('version')!r}; this edgeprune reads {COMPARISON_VERSION}"
            )
        try:
            rows = [
                FormatRow(
                    TimedArtifact(
                        VerifiedArtifact.from_dict(r["timed"]["artifact"]),
                        Latency(**r["timed"]["latency"]),
                        r["timed"]["speedup"],
                    ),
                    r["vs_reference"],
                )
                for r in data["rows"]
            ]
            return cls(
                **{
                    **data,
                    "data": DataSummary(**data["data"]),
                    "task": TaskSummary(**data["task"]),
                    "baseline": ModelFigures(**data["baseline"]),
                    "pruned": ModelFigures(**data["pruned"]),
                    "rows": rows,
                    "bench": Measurement.from_dict(data["bench"]),
                }
            )
        except (KeyError, TypeError) as exc:
            raise EdgepruneError(f"comparison: malformed record ({exc})") from None


def comparison_table(c: FormatComparison) -> Table:
    headers = [
        "model", "format", "precision", "size", "gzip", "parity rel. err", "checked against", f"val {c.task.metric}",
        "p50 ms", "p90 ms", "speedup vs unpruned fp32 (same format)", f"speedup vs {c.reference}",
    ]  # fmt: skip
    rows = []
    for row in c.rows:
        a, lat = row.artifact, row.timed.latency
        rows.append([
            row.model, a.format, a.precision, fmt_bytes(a.size_bytes), fmt_bytes(a.gzip_size_bytes),
            f"{a.parity.rel_err:.2e}", row.timed.parity_bound, c.task.format(a.metric), f"{lat.p50:.3f}",
            f"{lat.p90:.3f}", f"{row.timed.speedup:.2f}x", f"{row.vs_reference:.2f}x",
        ])  # fmt: skip
    return Table(headers, rows, ["l", "l", "l", "r", "r", "r", "l", "r", "r", "r", "r", "r"])


def render_comparison_markdown(c: FormatComparison) -> str:
    b, p = c.baseline, c.pruned
    lines = [
        f"# edgeprune format comparison: `{c.model}` on `{c.data.name}`",
        "",
        f"Unpruned {fmt_count(b.macs)} MACs, {fmt_count(b.params)} params, val {c.task.metric}"
        f" {c.task.format(b.metric)}; pruned (`{c.pruned_dir}`) {fmt_count(p.macs)} MACs ({p.macs / b.macs:.3f}x),"
        f" {fmt_count(p.params)} params, val {c.task.format(p.metric)}.",
        "",
        *to_markdown(comparison_table(c)),
        "",
        f"Every artifact was timed interleaved in one runner process ({c.bench.threads} thread(s),"
        f" {c.bench.runs} runs after {c.bench.warmup} warm-up, each on its format's runtime: ONNX on onnxruntime,"
        " TFLite on LiteRT with XNNPACK); parity and accuracy on the validation split.",
        memory_line(c.bench),
        "",
        *[f"Note: {n}" for n in c.notes],
        f"Wall time {c.wall_s:.0f} s. Versions: " + ", ".join(f"{k} {v}" for k, v in c.versions.items()),
        "",
    ]
    return "\n".join(lines)
