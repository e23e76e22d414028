"""Render a deploy report dict as Markdown."""

from __future__ import annotations

from typing import Any


def _fmt_int(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def _size_table(report: dict[str, Any]) -> list[str]:
    base, pruned = report["baseline"], report["pruned"]
    macs_ratio = pruned["macs"] / base["macs"]
    params_ratio = pruned["params"] / base["params"]
    drop = pruned["accuracy"] - base["accuracy"]
    return [
        "| | MACs | params | val top-1 |",
        "|---|---:|---:|---:|",
        f"| baseline | {_fmt_int(base['macs'])} | {_fmt_int(base['params'])} | {base['accuracy']:.2f}% |",
        f"| pruned | {_fmt_int(pruned['macs'])} ({macs_ratio:.2f}x)"
        f" | {_fmt_int(pruned['params'])} ({params_ratio:.2f}x) | {pruned['accuracy']:.2f}% ({drop:+.2f} pt) |",
    ]


def _artifact_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| file | runtime | precision | size | parity rel. err | val top-1 | p50 ms | p90 ms | speedup vs baseline |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for art in report["artifacts"]:
        lat = art["latency_ms"]
        lines.append(
            f"| `{art['path']}` | {art['runtime']} | {art['precision']} | {art['size_bytes'] / 1024:.1f} KiB"
            f" | {art['parity_rel_err']:.2e} | {art['accuracy']:.2f}% | {lat['p50']:.3f} | {lat['p90']:.3f}"
            f" | {art.get('speedup_vs_baseline', float('nan')):.2f}x |"
        )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """A short human summary: model sizes, accuracy, artifacts with parity and latency ratios."""
    data, bl = report["data"], report["baseline_latency"]
    prune, ft = report["prune"], report["finetune"]
    lines = [
        f"# edgeprune deploy report: target `{report['target']}`",
        "",
        f"Model `{report['model']}` on `{data['name']}` (split {data['split']}, seed {report['seed']}).",
        "",
        *_size_table(report),
        "",
        "## Artifacts",
        "",
        *_artifact_table(report),
        "",
        f"Baseline (unpruned) on the same runtime: p50 {bl['latency_ms']['p50']:.3f} ms,"
        f" p90 {bl['latency_ms']['p90']:.3f} ms, {bl['threads']} thread(s),"
        " measured interleaved in the same run as the pruned model.",
        "",
        f"Prune: {prune['method']} ({prune['importance']}), {prune['groups']} groups cut,"
        f" blocks dropped {prune['blocks'] or 'none'}, round_to {prune['round_to']}."
        f" Fine-tune: {ft['epochs']} epoch(s), distillation {'on' if ft['distill'] else 'off'},"
        f" best epoch {ft['best_epoch']} (chosen on the select split).",
        "",
        f"Wall time {report['wall_s']:.0f} s. Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
    ]
    return "\n".join(lines)
