"""report.md: a short human summary rendered from a :class:`DeployReport` (attributes only)."""

from __future__ import annotations

from edgeprune.report.record import DeployReport
from edgeprune.report.tables import (
    artifact_table,
    finetune_text,
    memory_text,
    prune_text,
    size_table,
    timing_text,
    to_markdown,
    widths_table,
)


def _sensitivity_lines(r: DeployReport) -> list[str]:
    sens = r.sensitivity
    if sens is None:
        return []
    ranked = ", ".join(f"{root} ({drop:.2f})" for root, drop in sens.ranking()[:3])
    return [
        f"Sensitivity scan ({sens.samples} select samples, never validation): most sensitive groups by mean"
        f" {sens.metric_name} drop {ranked}; plotted against MACs saved in report.html.",
        "",
    ]


def _embedded_lines(r: DeployReport) -> list[str]:
    from edgeprune.report.embedded import cpu_ops_text, embedded_table, embedded_text, top_ops_table

    table = embedded_table(r)
    if table is None:
        return []
    lines = ["## Embedded targets", "", *to_markdown(table), "", embedded_text(r), ""]
    if cpu_ops_text(r):
        lines += [cpu_ops_text(r), ""]
    ops = top_ops_table(r)
    if ops is not None:
        lines += ["Most expensive NPU operators of the pruned artifact:", "", *to_markdown(ops), ""]
    return lines


def render_markdown(r: DeployReport) -> str:
    """The human summary: model sizes, metric, widths, artifacts with parity bounds, sizes and latency ratios."""
    lines = [
        f"# edgeprune deploy report: target `{r.target}`",
        "",
        f"Model `{r.model}` on `{r.data.name}` (split {r.data.split_text}, fine-tune seed {r.seed}); task"
        f" {r.task.name} (metric {r.task.metric}, {'higher' if r.task.higher_is_better else 'lower'} is better).",
        f"Preprocessing the deployed model expects: {r.data.preprocessing_text}.",
        "",
        *to_markdown(size_table(r)),
        "",
        "## Artifacts",
        "",
        *to_markdown(artifact_table(r)),
        "",
        timing_text(r),
        memory_text(r),
        "",
        *_embedded_lines(r),
        "## What was cut",
        "",
        prune_text(r),
        "",
        *to_markdown(widths_table(r)),
        "",
        *_sensitivity_lines(r),
        finetune_text(r),
        "",
        *[f"Note: {n}" for n in r.notes],
        f"Wall time {r.wall_s:.0f} s. Versions: " + ", ".join(f"{k} {v}" for k, v in r.versions.items()),
        "",
        "Plots: report.html (same record).",
        "",
    ]
    return "\n".join(lines)
