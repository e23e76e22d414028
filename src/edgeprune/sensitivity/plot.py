"""sensitivity.png: metric vs ratio, one curve per group (the most sensitive labelled), blocks as bars."""

from __future__ import annotations

from pathlib import Path

from edgeprune.atomic import write_with
from edgeprune.sensitivity.result import Sensitivity


def plot_sensitivity(result: Sensitivity, path: str | Path, label_top: int = 3) -> Path:
    """Write the figure atomically and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranking = [root for root, _ in result.ranking()]
    top = set(ranking[:label_top])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 1]})
    for curve in result.groups:
        xs = [0.0] + [p.ratio for p in curve.points]
        ys = [result.base.metric] + [p.metric for p in curve.points]
        sensitive = curve.root in top
        line = ax.plot(
            xs,
            ys,
            marker="o",
            lw=2.2 if sensitive else 1.0,
            alpha=1.0 if sensitive else 0.55,
            label=f"{curve.root} ({curve.width})",
        )[0]
        if sensitive:
            mid = min(range(1, len(xs)), key=lambda i: abs(ys[i] - (ys[0] + min(ys)) / 2))
            ax.annotate(
                f"{curve.root}",
                (xs[mid], ys[mid]),
                textcoords="offset points",
                xytext=(6, 6),
                color=line.get_color(),
                fontweight="bold",
                fontsize=9,
            )
    ax.axhline(result.base.metric, color="gray", ls=":", lw=1)
    ax.set_xlabel("fraction of the group's channels pruned (alone, no fine-tuning)")
    ax.set_ylabel(f"{result.metric_name} on {result.samples} choosing samples (%)")
    ax.set_title(f"Sensitivity of {result.model} on {result.data} (criterion {result.importance})")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    if result.blocks:
        names = [b.path for b in result.blocks]
        bx.barh(names, [b.point.metric for b in result.blocks], color="tab:red", alpha=0.7)
        bx.axvline(result.base.metric, color="gray", ls=":", lw=1)
        bx.set_xlabel(f"{result.metric_name} with the block dropped (%)")
        bx.set_title("blocks dropped alone")
        bx.invert_yaxis()
    else:
        bx.axis("off")
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)
