"""The report's embedded section: Vela's NPU estimate and TFLM's check of every int8 artifact, as table cells,
sentences and two plots (per-operator cycles against MACs; memory before and after)."""

from __future__ import annotations

from typing import Any

from edgeprune.embedded.records import EmbeddedArtifact, EmbeddedFigures
from edgeprune.report.plots import Figure, render_figure
from edgeprune.report.record import DeployReport
from edgeprune.report.tables import Table, fmt_bytes, fmt_count

VELA_NOTE = (
    "NPU figures are Vela's estimate (Arm's performance model of the compiled command stream for this"
    " configuration), not a board measurement; TFLM's arena is its recording allocator on this 64-bit host (the"
    " activation buffers, the head, are what a device needs too; the tail holds structs that are smaller on a"
    " 32-bit microcontroller)."
)


def _unpruned_npu_ms(e: EmbeddedFigures) -> float | None:
    base = e.of("baseline")
    return base.npu.inference_ms if base is not None and base.npu is not None else None


def _row(r: DeployReport, a: EmbeddedArtifact, base_ms: float | None) -> list[str]:
    model = "pruned" if a.role == "pruned" else "unpruned"
    npu, tflm = a.npu, a.tflm
    cells = [a.name, model, fmt_count(a.macs)]
    if npu is not None:
        speedup = f"{base_ms / npu.inference_ms:.2f}x" if base_ms and npu.inference_ms else "-"
        cells += [
            f"{npu.inference_ms:.3f}", speedup, fmt_count(npu.cycles), fmt_bytes(npu.sram_bytes),
            f"{fmt_bytes(npu.storage_bytes)} ({npu.storage})", f"{npu.npu_ops} / {len(npu.cpu_ops)}",
        ]  # fmt: skip
    else:
        cells += ["-"] * 6
    if tflm is not None:
        metric = "-" if tflm.metric is None else r.task.format(tflm.metric)
        cells += [
            fmt_bytes(tflm.arena_bytes), fmt_bytes(tflm.model_bytes), f"{tflm.top1_agreement:.1f}%",
            f"{tflm.identical:.0f}%", str(tflm.max_abs_diff), metric,
        ]  # fmt: skip
    else:
        cells += ["-"] * 6
    return cells


def _samples(e: EmbeddedFigures) -> int:
    return max((a.tflm.samples for a in e.artifacts if a.tflm is not None), default=0)


def embedded_table(r: DeployReport) -> Table | None:
    """One row per int8 artifact: Vela's time, speedup over the unpruned int8, cycles, SRAM, flash, operators on
    the NPU / CPU; TFLM's arena, the file size, agreement with LiteRT and TFLM's validation metric."""
    e = r.embedded
    if e is None or not e.artifacts:
        return None
    headers = [
        "file", "model", "MACs", "NPU ms (Vela)", "NPU speedup", "NPU cycles", "SRAM", "weights in",
        "ops NPU / CPU", "TFLM arena", "flash (.tflite)", "TFLM top-1 = LiteRT ref.", "bit-identical",
        "max int8 diff", f"TFLM val {r.task.metric} ({_samples(e)} samples)",
    ]  # fmt: skip
    base_ms = _unpruned_npu_ms(e)
    rows = [_row(r, a, base_ms) for a in e.artifacts]
    return Table(headers, rows, ["l", "l"] + ["r"] * 13)


def cpu_ops_text(r: DeployReport) -> str:
    """The operators Vela leaves on the Cortex-M, per artifact, with Vela's reason."""
    e = r.embedded
    if e is None or not e.accelerator:
        return ""
    parts = []
    for a in e.artifacts:
        if a.npu is None:
            continue
        ops = "; ".join(f"{c.operator} '{c.name}' ({c.reason})" for c in a.npu.cpu_ops) or "none"
        parts.append(f"{a.name}: {ops}")
    return "Operators Vela leaves on the CPU: " + " | ".join(parts) + "."


def embedded_text(r: DeployReport) -> str:
    e = r.embedded
    if e is None:
        return ""
    where = (
        f"Ethos-U: {e.accelerator}, system config {e.system_config}, memory mode {e.memory_mode}. "
        if e.accelerator
        else ""
    )
    folded = ""
    if e.input:
        from edgeprune.export.inputq import InputQuantization

        folded = f" Raw samples to the int8 input: {InputQuantization.from_dict(e.input).describe()}."
    return f"{where}{VELA_NOTE}{folded}"


def top_ops_table(r: DeployReport, count: int = 8) -> Table | None:
    """The pruned artifact's most expensive NPU operators: cycles, MACs, MAC utilization."""
    e = r.embedded
    pruned = e.of("pruned") if e is not None else None
    if pruned is None or pruned.npu is None:
        return None
    total = max(pruned.npu.cycles, 1)
    ops = sorted(pruned.npu.ops, key=lambda o: -o.cycles)[:count]
    rows = [
        [o.original, o.op, o.target, fmt_count(o.cycles), f"{o.cycles / total:.1%}", fmt_count(o.macs),
         f"{o.utilization:.1f}%", o.name[-60:]]
        for o in ops
    ]  # fmt: skip
    headers = ["operator", "Vela op", "on", "cycles", "share", "MACs", "MAC util.", "name (end)"]
    return Table(headers, rows, ["l"] * 3 + ["r"] * 4 + ["l"])


def cycles_figure(r: DeployReport) -> Figure | None:
    """Per operator: Vela's cycles against its MACs, unpruned and pruned (zero-MAC operators on the left)."""
    e = r.embedded
    if e is None:
        return None
    series = [(a, a.npu) for a in e.artifacts if a.npu is not None]
    if not series:
        return None

    def draw(ax: Any) -> None:
        for a, npu in series:
            ops = [o for o in npu.ops if o.cycles > 0]
            color = "tab:blue" if a.role == "pruned" else "gray"
            label = f"{'pruned' if a.role == 'pruned' else 'unpruned'} ({npu.inference_ms:.3f} ms)"
            ax.scatter([o.macs / 1e3 for o in ops], [o.cycles / 1e3 for o in ops], s=22, color=color, alpha=0.75,
                       label=label, edgecolors="none")  # fmt: skip
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("log")
        ax.set_xlabel("MACs of the operator (thousands; 0: adds, pads, means)")
        ax.set_ylabel("Vela cycles (thousands)")
        ax.set_title(f"Per operator on {e.accelerator}: cycles against MACs (Vela's estimate)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)

    return render_figure("npu_cycles", "Vela cycles against MACs per operator", 3.8, draw)


def memory_figure(r: DeployReport) -> Figure | None:
    """SRAM, weights storage and TFLM arena of the unpruned and the pruned int8 artifact (KiB)."""
    e = r.embedded
    if e is None:
        return None
    base, pruned = e.of("baseline"), e.of("pruned")
    if base is None or pruned is None:
        return None
    bars: list[tuple[str, float, float]] = []
    if base.npu is not None and pruned.npu is not None:
        bars.append(("NPU SRAM (Vela)", base.npu.sram_kib, pruned.npu.sram_kib))
        bars.append((f"NPU {base.npu.storage} (Vela)", base.npu.flash_kib, pruned.npu.flash_kib))
    if base.tflm is not None and pruned.tflm is not None:
        bars.append(("TFLM arena", base.tflm.arena_kib, pruned.tflm.arena_kib))
        bars.append(("flash: .tflite", base.tflm.model_bytes / 1024, pruned.tflm.model_bytes / 1024))

    def draw(ax: Any) -> None:
        names = [b[0] for b in bars]
        y = range(len(bars))
        ax.barh([i - 0.2 for i in y], [b[1] for b in bars], height=0.4, color="lightgray", label="unpruned")
        ax.barh([i + 0.2 for i in y], [b[2] for b in bars], height=0.4, color="tab:blue", label="pruned")
        for i, (_, before, after) in enumerate(bars):
            ax.annotate(f"{after:.1f} / {before:.1f} KiB ({after / before:.2f}x)" if before else f"{after:.1f} KiB",
                        (max(before, after), i), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=7)  # fmt: skip
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.45 * max((max(b[1], b[2]) for b in bars), default=1.0))  # room for the labels
        ax.set_xlabel("KiB")
        ax.set_title("Device memory before and after pruning", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")

    return render_figure("device_memory", "Device memory before and after", max(2.2, 0.55 * len(bars) + 1.2), draw)


def embedded_figures(r: DeployReport) -> list[Figure]:
    return [f for f in (cycles_figure(r), memory_figure(r)) if f is not None]
