"""The report's tables as plain cells, built once from a :class:`DeployReport` and rendered as Markdown or HTML."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.bench.measurement import Measurement
from edgeprune.report.record import DeployReport, TimedArtifact


@dataclass(frozen=True)
class Table:
    """Header cells, rows of cells (text), and per-column alignment ("l" or "r")."""

    headers: list[str]
    rows: list[list[str]]
    align: list[str]


def fmt_count(n: float) -> str:
    """``10180000`` -> ``10.18 M``; ``74800`` -> ``74.8 k``."""
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def size_table(r: DeployReport) -> Table:
    b, p = r.baseline, r.pruned
    delta = p.metric - b.metric
    return Table(
        ["", "MACs", "params", f"val {r.task.metric}"],
        [
            ["unpruned", fmt_count(b.macs), fmt_count(b.params), r.task.format(b.metric)],
            [
                "pruned",
                f"{fmt_count(p.macs)} ({p.macs / b.macs:.3f}x)",
                f"{fmt_count(p.params)} ({p.params / b.params:.3f}x)",
                f"{r.task.format(p.metric)} ({delta:+.2f})",
            ],
        ],
        ["l", "r", "r", "r"],
    )


def _artifact_row(r: DeployReport, t: TimedArtifact) -> list[str]:
    a, lat = t.artifact, t.latency
    model = "unpruned" if a.role != "pruned" else "pruned"
    return [
        a.name, model, a.runtime, a.precision, fmt_bytes(a.size_bytes), fmt_bytes(a.gzip_size_bytes),
        f"{a.parity.rel_err:.2e}", t.parity_bound, f"{a.parity.top1_agreement:.1f}%", r.task.format(a.metric),
        f"{lat.p50:.3f}", f"{lat.p90:.3f}", f"{t.speedup:.2f}x",
    ]  # fmt: skip


def artifact_table(r: DeployReport) -> Table:
    """Every artifact: size, gzip size, parity error and the bound its precision was checked against, arg-max
    agreement with the torch model, validation metric, p50/p90, speedup over the unpruned fp32 artifact."""
    headers = [
        "file", "model", "runtime", "precision", "size", "gzip", "parity rel. err", "checked against",
        "arg-max agreement", f"val {r.task.metric}", "p50 ms", "p90 ms", "speedup vs unpruned fp32",
    ]  # fmt: skip
    return Table(headers, [_artifact_row(r, t) for t in r.all_artifacts], ["l"] * 4 + ["r"] * 3 + ["l"] + ["r"] * 5)


def widths_table(r: DeployReport) -> Table:
    """Every cut group's widths and the step its width follows (a finer one than round_to is marked)."""
    finer = lambda g: f"{g.step} (finer than round_to {r.prune.round_to})" if g.root in r.prune.finer else str(g.step)  # noqa: E731
    rows = [[g.root, str(g.before), str(g.after), f"{g.kept:.0%}", finer(g)] for g in r.prune.group_widths]
    rows += [[f"block {b}", "-", "dropped", "0%", "-"] for b in r.prune.blocks]
    return Table(["group", "width before", "width after", "kept", "multiple of"], rows, ["l", "r", "r", "r", "l"])


def versions_table(r: DeployReport) -> Table:
    return Table(["package", "version"], [[k, v] for k, v in r.versions.items()], ["l", "l"])


def memory_text(r: DeployReport) -> str:
    """The runner's peak memory (its own VmHWM) and what the models added to it."""
    return memory_line(r.bench)


def memory_line(m: Measurement) -> str:
    """One runner process's peak memory (its own VmHWM) and what loading and running the models added."""
    if not m.peak_rss_bytes:
        return "Runner peak memory: not measured."
    added = m.models_rss_bytes
    extra = "" if added is None else f" ({fmt_bytes(added)} over the runner with its runtimes imported)"
    return f"Runner peak memory (its own VmHWM, every artifact loaded and run): {fmt_bytes(m.peak_rss_bytes)}{extra}."


def timing_text(r: DeployReport) -> str:
    b = r.bench
    return (
        f"Timed on {b.runtime}, {b.threads} thread(s), {b.runs} runs after {b.warmup} warm-up, every artifact"
        " interleaved in one runner process; speedup = p50 of the unpruned fp32 artifact / p50 of the row, same run."
    )


def prune_text(r: DeployReport) -> str:
    p = r.prune
    predicted = (
        ""
        if p.predicted_metric is None
        else f" Predicted before fine-tuning (select samples, never validation): {r.task.format(p.predicted_metric)}."
    )
    when = " at initialization, then trained from scratch" if p.when == "before" else ""
    links = p.connections
    connections = (
        ""
        if links is None
        else f" Connections: {links.pattern} to {links.target:.0%} zeros per layer, reached {links.reached:.1%}"
        f" ({links.all_weights:.1%} of all conv/linear weights; {len(links.dense_layers)} layer(s) left dense)."
    )
    lat = p.latency
    latency = (
        ""
        if lat is None
        else f" Latency budget {f'{lat.latency_ms:g} ms' if lat.latency_ms is not None else f'{lat.speedup:g}x faster'}"
        f" (tolerance {lat.tolerance:.0%}): unpruned {lat.base_ms:.3f} ms, predicted {lat.predicted_ms:.3f} ms,"
        f" measured {lat.measured_ms:.3f} ms ({lat.measured_speedup:.2f}x) while planning, {lat.attempts} attempt(s)"
        f"{'' if lat.within_tolerance else ', OUTSIDE the tolerance'}."
    )
    return (
        f"Prune{when}: {p.method} ({p.importance}), {p.budget_kind} budget {p.budget:.3f}x, reached {p.reached:.3f}x;"
        f" {p.groups_cut} group(s) cut, blocks dropped {', '.join(p.blocks) if p.blocks else 'none'},"
        f" round_to {p.round_to}.{predicted}{latency}{connections}"
    )


def finetune_text(r: DeployReport) -> str:
    f = r.finetune
    what = "Training from scratch" if r.prune.when == "before" else "Fine-tune"
    return (
        f"{what}: {f.epochs} epoch(s), distillation {'on' if f.distill else 'off'}, best epoch {f.best_epoch}"
        " (chosen on the select split"
        + ("; 0: no epoch beat the starting weights, kept as they were)." if f.best_epoch == 0 else ").")
    )


def to_markdown(table: Table) -> list[str]:
    """GitHub-flavoured Markdown lines (``|`` in cells escaped)."""
    esc = lambda text: text.replace("|", "\\|")  # noqa: E731
    rule = ["---:" if a == "r" else "---" for a in table.align]
    lines = ["| " + " | ".join(esc(h) for h in table.headers) + " |", "|" + "|".join(rule) + "|"]
    return lines + ["| " + " | ".join(esc(c) for c in row) + " |" for row in table.rows]
