"""sensitivity.png: what each cut costs against what it saves.

Left: the metric against the fraction of the *model's* MACs removed, one curve per group pruned alone (the most
sensitive labelled) and one cross per block dropped alone, so cost and benefit share one axis. Right: each
block's metric drop in points (not the metric itself: 95.7% and 96.0% would look alike as bars from 0) with the
share of the MACs it removes. Every number comes from select samples, never validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeprune.atomic import write_with
from edgeprune.sensitivity.result import Point, Sensitivity

SAMPLES_NOTE = "select samples (never validation)"


def macs_saved(result: Sensitivity, point: Point) -> float:
    """Fraction of the unpruned model's MACs that ``point``'s cut removes."""
    return (result.base.macs - point.macs) / result.base.macs if result.base.macs else 0.0


def draw_groups(result: Sensitivity, ax: Any, label_top: int = 3) -> None:
    """Metric vs MACs saved: one curve per group, blocks as crosses, the unpruned metric as a dotted line."""
    top = {root for root, _ in result.ranking()[:label_top]}
    for curve in result.groups:
        xs = [0.0] + [macs_saved(result, p) for p in curve.points]
        ys = [result.base.metric] + [p.metric for p in curve.points]
        sensitive = curve.root in top
        line = ax.plot(
            xs, ys, marker="o", ms=3, lw=2.2 if sensitive else 1.0, alpha=1.0 if sensitive else 0.55,
            label=f"{curve.root} ({curve.width})",
        )[0]  # fmt: skip
        if sensitive and len(xs) > 1:
            mid = min(range(1, len(xs)), key=lambda i: abs(ys[i] - (ys[0] + min(ys)) / 2))
            ax.annotate(
                curve.root, (xs[mid], ys[mid]), textcoords="offset points", xytext=(6, 6),
                color=line.get_color(), fontweight="bold", fontsize=8,
            )  # fmt: skip
    for block in result.blocks:
        ax.plot([macs_saved(result, block.point)], [block.point.metric], marker="X", ms=8, color="tab:red", ls="")
    if result.blocks:
        ax.plot([], [], marker="X", color="tab:red", ls="", label="block dropped")
    ax.axhline(result.base.metric, color="gray", ls=":", lw=1)
    ax.set_xlabel("fraction of the model's MACs removed (one group or block alone, no fine-tuning)")
    ax.set_ylabel(f"{result.metric_name} on {result.samples} {SAMPLES_NOTE}")
    ax.set_xlim(left=0.0)
    ax.legend(fontsize=6, loc="lower left")
    ax.grid(alpha=0.3)


def draw_blocks(result: Sensitivity, ax: Any) -> None:
    """Each block's metric drop in points (bars from 0 = no change), labelled with the MACs share it removes."""
    if not result.blocks:
        ax.axis("off")
        ax.text(0.5, 0.5, "no removable blocks", ha="center", va="center", transform=ax.transAxes)
        return
    names = [f"{b.path}\n{macs_saved(result, b.point):.1%} of MACs" for b in result.blocks]
    drops = [result.drop(b.point) for b in result.blocks]
    bars = ax.barh(names, drops, color=["tab:red" if d > 0 else "tab:green" for d in drops], alpha=0.75)
    for bar, drop in zip(bars, drops, strict=True):
        ax.annotate(f"{drop:+.2f}", (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)  # fmt: skip
    ax.axvline(0.0, color="gray", lw=1)
    ax.set_xlabel(f"{result.metric_name} drop, points (positive = worse)")
    ax.set_title("blocks dropped alone", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.invert_yaxis()


def plot_sensitivity(result: Sensitivity, path: str | Path, label_top: int = 3) -> Path:
    """Write the figure atomically and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1.2]})
    draw_groups(result, ax, label_top)
    ax.set_title(f"Sensitivity of {result.model} on {result.data} (criterion {result.importance})", fontsize=10)
    draw_blocks(result, bx)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)
