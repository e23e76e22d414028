"""report.md: a short human summary rendered from a :class:`DeployReport` (attributes only)."""

from __future__ import annotations

from edgeprune.report.record import DeployReport, TimedArtifact


def _fmt_int(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def _metric(report: DeployReport, value: float) -> str:
    return report.task.format(value)


def _size_table(r: DeployReport) -> list[str]:
    b, p = r.baseline, r.pruned
    delta = p.metric - b.metric
    return [
        f"| | MACs | params | val {r.task.metric} |",
        "|---|---:|---:|---:|",
        f"| baseline | {_fmt_int(b.macs)} | {_fmt_int(b.params)} | {_metric(r, b.metric)} |",
        f"| pruned | {_fmt_int(p.macs)} ({p.macs / b.macs:.3f}x) | {_fmt_int(p.params)} ({p.params / b.params:.3f}x)"
        f" | {_metric(r, p.metric)} ({delta:+.2f}) |",
    ]


def _row(r: DeployReport, t: TimedArtifact) -> str:
    a, lat = t.artifact, t.latency
    bound = f" (<= {a.parity.bound:.0e})" if a.parity.bound is not None else " (int8: agreement checked)"
    return (
        f"| `{a.name}` | {a.runtime} | {a.precision} | {a.size_bytes / 1024:.1f} KiB"
        f" | {a.gzip_size_bytes / 1024:.1f} KiB | {a.parity.rel_err:.2e}{bound}"
        f" | {a.parity.top1_agreement:.1f}% | {_metric(r, a.metric)}"
        f" | {lat.p50:.3f} | {lat.p90:.3f} | {t.speedup:.2f}x |"
    )


def _artifact_table(r: DeployReport) -> list[str]:
    lines = [
        "| file | runtime | precision | size | gzip | parity rel. err (bound) | arg-max agreement"
        f" | val {r.task.metric} | p50 ms | p90 ms | speedup vs unpruned fp32 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    return lines + [_row(r, t) for t in [r.baseline_artifact, *r.artifacts]]


def _prune_line(r: DeployReport) -> str:
    p = r.prune
    predicted = (
        ""
        if p.predicted_metric is None
        else f" Predicted before fine-tuning (choosing samples): {_metric(r, p.predicted_metric)}."
    )
    return (
        f"Prune: {p.method} ({p.importance}), {p.budget_kind} budget {p.budget:.3f}x, reached {p.reached:.3f}x;"
        f" {p.groups_cut} group(s) cut, blocks dropped {p.blocks or 'none'}, round_to {p.round_to}.{predicted}"
    )


def render_markdown(r: DeployReport) -> str:
    """The human summary: model sizes, metric, artifacts with parity, sizes and latency ratios."""
    lines = [
        f"# edgeprune deploy report: target `{r.target}`",
        "",
        f"Model `{r.model}` on `{r.data.name}` (split {r.data.split_text}, fine-tune seed {r.seed}); task"
        f" {r.task.name} (metric {r.task.metric}, {'higher' if r.task.higher_is_better else 'lower'} is better).",
        f"Preprocessing the deployed model expects: {r.data.preprocessing_text}.",
        "",
        *_size_table(r),
        "",
        "## Artifacts",
        "",
        *_artifact_table(r),
        "",
        f"Timed on {r.bench.runtime}, {r.bench.threads} thread(s), {r.bench.runs} runs after {r.bench.warmup} warm-up,"
        " every artifact interleaved in one runner process.",
        "",
        _prune_line(r),
        f"Fine-tune: {r.finetune.epochs} epoch(s), distillation {'on' if r.finetune.distill else 'off'},"
        f" best epoch {r.finetune.best_epoch} (chosen on the select split).",
        "",
        *[f"Note: {n}" for n in r.notes],
        f"Wall time {r.wall_s:.0f} s. Versions: " + ", ".join(f"{k} {v}" for k, v in r.versions.items()),
        "",
    ]
    return "\n".join(lines)
