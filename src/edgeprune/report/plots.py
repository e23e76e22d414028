"""The report's figures, drawn with matplotlib (Agg) from a :class:`DeployReport` and returned as PNG bytes.

Each figure has a fixed size in pixels (inches x DPI, no tight bounding box), so a page can state it and a test
can check it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeprune.report.record import DeployReport, TimedArtifact

DPI = 100
WIDTH_IN = 9.0


@dataclass(frozen=True)
class Figure:
    """One rendered plot: a short name (used as the HTML id), a caption, the PNG and its size in pixels."""

    name: str
    caption: str
    png: bytes
    width_px: int
    height_px: int


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _render(name: str, caption: str, height_in: float, draw: Callable[[Any], None], columns: int = 1) -> Figure:
    plt = _pyplot()
    ratios = {"width_ratios": [3, 1.2]} if columns == 2 else None
    fig, axes = plt.subplots(1, columns, figsize=(WIDTH_IN, height_in), dpi=DPI, gridspec_kw=ratios)
    try:
        draw(axes)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return Figure(name, caption, buf.getvalue(), round(WIDTH_IN * DPI), round(height_in * DPI))


render_figure = _render  # for the report's other figure modules


def _mmacs(macs: int) -> float:
    return macs / 1e6


def widths_figure(r: DeployReport) -> Figure:
    """Every cut group's width before (grey) and after (blue), with the fraction kept."""
    groups = r.prune.group_widths
    height = max(2.5, 0.32 * len(groups) + 1.3)

    def draw(ax: Any) -> None:
        names = [g.root for g in groups]
        ax.barh(names, [g.before for g in groups], color="lightgray", label="before")
        ax.barh(names, [g.after for g in groups], color="tab:blue", label="after")
        for i, g in enumerate(groups):
            ax.annotate(f"{g.after}/{g.before} ({g.kept:.0%})", (g.before, i), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)  # fmt: skip
        ax.invert_yaxis()
        ax.set_xlim(0, max([g.before for g in groups], default=1) * 1.22)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("channels / neurons / heads kept")
        blocks = ", ".join(r.prune.blocks) if r.prune.blocks else "none"
        ax.set_title(f"Width of each pruned group (blocks dropped: {blocks})", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        if not groups:
            ax.text(0.5, 0.5, "no group was cut", ha="center", va="center", transform=ax.transAxes)

    return _render("widths", "Widths per group before and after pruning", height, draw)


def _precision_marker(t: TimedArtifact) -> str:
    return {"fp32": "o", "fp16": "s", "int8": "D"}.get(t.artifact.precision, "^")


def accuracy_figure(r: DeployReport) -> Figure:
    """Metric against MACs: unpruned, predicted before fine-tuning (select samples), pruned, and each artifact."""
    metric = r.task.metric

    def draw(ax: Any) -> None:
        b, p = r.baseline, r.pruned
        ax.plot([_mmacs(b.macs)], [b.metric], "o", ms=10, color="black", label=f"unpruned (val {metric})")
        ax.plot([_mmacs(p.macs)], [p.metric], "o", ms=10, color="tab:blue", label=f"pruned + fine-tuned (val {metric})")
        if r.prune.predicted_metric is not None:
            ax.plot([_mmacs(p.macs)], [r.prune.predicted_metric], "o", ms=10, mfc="none", color="tab:orange",
                    label="predicted before fine-tuning (select samples, never validation)")  # fmt: skip
        for t in r.all_artifacts:
            ax.plot([_mmacs(r.macs_of(t))], [t.artifact.metric], _precision_marker(t), ms=5, color="tab:green")
            ax.annotate(t.artifact.name, (_mmacs(r.macs_of(t)), t.artifact.metric), xytext=(6, -3),
                        textcoords="offset points", fontsize=7)  # fmt: skip
        ax.plot([], [], "o", ms=5, color="tab:green", label=f"artifacts on their runtime (val {metric})")
        ax.set_xlabel("MMACs")
        ax.set_ylabel(metric)
        ax.set_xlim(0.0, _mmacs(b.macs) * 1.35)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"{metric} against MACs", fontsize=10)

    return _render("accuracy", f"{metric} against MACs", 4.2, draw)


def latency_figure(r: DeployReport) -> Figure:
    """p50 latency (bar to p90) against MACs for every artifact, with its speedup over the unpruned fp32 one."""

    def draw(ax: Any) -> None:
        colors = {"fp32": "tab:blue", "fp16": "tab:purple", "int8": "tab:green"}
        for t in r.all_artifacts:
            x, lat = _mmacs(r.macs_of(t)), t.latency
            color = "black" if t is r.baseline_artifact else colors.get(t.artifact.precision, "tab:gray")
            ax.errorbar([x], [lat.p50], yerr=[[0.0], [max(lat.p90 - lat.p50, 0.0)]], fmt=_precision_marker(t),
                        ms=7, color=color, capsize=3)  # fmt: skip
            ax.annotate(f"{t.artifact.name} {t.speedup:.2f}x", (x, lat.p50), xytext=(7, 2),
                        textcoords="offset points", fontsize=7)  # fmt: skip
        ax.set_xlabel("MMACs")
        ax.set_ylabel("latency, ms (marker p50, bar to p90)")
        ax.set_xlim(0.0, _mmacs(r.baseline.macs) * 1.35)
        ax.set_ylim(bottom=0.0)
        ax.grid(alpha=0.3)
        ax.set_title(
            f"Latency on {r.bench.runtime}, {r.bench.threads} thread(s), all artifacts interleaved in one process",
            fontsize=10,
        )

    return _render("latency", "Latency against MACs, every artifact and the unpruned model", 4.2, draw)


def finetune_figure(r: DeployReport) -> Figure:
    """The select split's metric and the training loss per fine-tune epoch; the chosen epoch marked."""
    curve = r.finetune.curve
    metric = r.task.metric

    def draw(ax: Any) -> None:
        epochs = [e.epoch for e in curve]
        ax.plot(epochs, [e.select_metric for e in curve], "o-", color="tab:blue", label=f"select {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"select {metric} (never validation)")
        ax.grid(alpha=0.3)
        loss_ax = ax.twinx()
        loss_ax.plot(epochs, [e.train_loss for e in curve], "s--", color="tab:red", ms=4, label="train loss")
        loss_ax.set_ylabel("train loss")
        if r.finetune.best_epoch:
            ax.axvline(r.finetune.best_epoch, color="gray", ls=":", lw=1)
            ax.annotate("chosen", (r.finetune.best_epoch, ax.get_ylim()[0]), xytext=(3, 4),
                        textcoords="offset points", fontsize=7, color="gray")  # fmt: skip
        lines = ax.get_legend_handles_labels()
        more = loss_ax.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="center right")
        distill = "with" if r.finetune.distill else "without"
        ax.set_title(f"Fine-tuning, {r.finetune.epochs} epoch(s) {distill} distillation", fontsize=10)
        if not curve:
            ax.text(0.5, 0.5, "no fine-tuning epochs", ha="center", va="center", transform=ax.transAxes)

    return _render("finetune", "Fine-tune curve", 3.6, draw)


def sensitivity_figure(r: DeployReport) -> Figure | None:
    """The scan the planner used: metric against MACs saved per group and block; block drops with MACs shares."""
    sens = r.sensitivity
    if sens is None:
        return None
    from edgeprune.sensitivity.plot import draw_blocks, draw_groups

    def draw(axes: Any) -> None:
        draw_groups(sens, axes[0])
        axes[0].set_title(f"Sensitivity scan (criterion {sens.importance}, {sens.samples} select samples)", fontsize=10)
        draw_blocks(sens, axes[1])

    return _render("sensitivity", "Sensitivity against MACs saved", 4.8, draw, columns=2)


def report_figures(r: DeployReport) -> list[Figure]:
    """Every figure the report has data for, in page order."""
    figures = [widths_figure(r), accuracy_figure(r), latency_figure(r), finetune_figure(r), sensitivity_figure(r)]
    return [f for f in figures if f is not None]
