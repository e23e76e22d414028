"""Readable rich tables for an :class:`Analysis`."""

from __future__ import annotations

from typing import Any

from edgeprune.graph.analyze import Analysis


def _layers(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


def render(analysis: Analysis, console: Any = None) -> None:
    """Print the group and block tables."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console(width=max(Console().width, 140))
    console.print(
        f"[bold]{analysis.model}[/] input {analysis.input_shape}: {analysis.macs / 1e6:.1f} MMACs, "
        f"{analysis.params / 1e6:.2f} M params, {len(analysis.groups)} groups, {len(analysis.blocks)} blocks "
        f"(analyzed in {analysis.seconds:.2f} s)"
    )
    groups = Table(title="Coupled groups (share = MACs / params that scale with the group's width)")
    for col in ("root", "kind", "width", "coupling", "members", "MACs %", "params %"):
        groups.add_column(col, justify="right" if col in ("width", "MACs %", "params %") else "left")
    groups.add_column("prunable", overflow="fold", ratio=1, min_width=24)  # reasons wrap, never cut
    for g in analysis.groups:
        groups.add_row(
            g["root"],
            g["kind"],
            str(g["width"]),
            ", ".join(g["coupling"]) or "-",
            _layers(g["members"]),
            f"{100 * g['macs_share']:.1f}",
            f"{100 * g['params_share']:.1f}",
            "yes" if g["prunable"] else f"no ({g['note']})",
        )
    console.print(groups)
    blocks = Table(title="Removable blocks (replaced by nn.Identity, output shape verified)")
    for col in ("block", "type", "kind", "MACs %", "params %"):
        blocks.add_column(col, justify="right" if "%" in col else "left")
    for b in analysis.blocks:
        blocks.add_row(
            b["path"], b["type"], b["kind"], f"{100 * b['macs_share']:.1f}", f"{100 * b['params_share']:.1f}"
        )
    console.print(blocks)
    prunable = sum(bool(g["prunable"]) for g in analysis.groups)
    console.print(
        f"{prunable} of {len(analysis.groups)} groups verified prunable; the layers they shrink hold"
        f" {100 * analysis.prunable_macs_share:.1f}% of the MACs"
    )
    left = [g for g in analysis.groups if not g["prunable"]]
    if left:
        console.print("Left alone, and why:")
        for g in left:
            console.print(f"  {g['root']}: {g['note']}", markup=False, highlight=False)
