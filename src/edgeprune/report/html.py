"""report.html: one self-contained page (plots embedded as base64 PNG, inline CSS, no scripts, nothing fetched)
rendered from the same :class:`DeployReport` as report.md (attributes only)."""

from __future__ import annotations

import base64
from html import escape

from edgeprune.report.plots import Figure, report_figures
from edgeprune.report.record import DeployReport
from edgeprune.report.tables import (
    Table,
    artifact_table,
    finetune_text,
    memory_text,
    prune_text,
    size_table,
    timing_text,
    versions_table,
    widths_table,
)

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px;
       color: #1b1b1b; background: #fff; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; } th { background: #f2f2f2; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #8a4b00; }
"""


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{a}">{escape(c)}</td>' for c, a in zip(row, table.align, strict=True)) + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="{escape(fig.name)}"><img alt="{escape(fig.caption)}" width="{fig.width_px}"'
        f' height="{fig.height_px}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(fig.caption)}</figcaption></figure>"
    )


def _p(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{escape(text)}</p>"


def _embedded_html(r: DeployReport) -> list[str]:
    from edgeprune.report.embedded import (
        cpu_ops_text,
        embedded_figures,
        embedded_table,
        embedded_text,
        top_ops_table,
    )

    table = embedded_table(r)
    if table is None:
        return []
    parts = ["<h2>Embedded targets</h2>", table_html(table), _p(embedded_text(r))]
    if cpu_ops_text(r):
        parts.append(_p(cpu_ops_text(r)))
    parts += [figure_html(f) for f in embedded_figures(r)]
    ops = top_ops_table(r)
    if ops is not None:
        parts += [_p("Most expensive NPU operators of the pruned artifact:"), table_html(ops)]
    return parts


def render_html(r: DeployReport) -> str:
    """The whole page as one string."""
    figures = report_figures(r)
    direction = "higher" if r.task.higher_is_better else "lower"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>edgeprune report: {escape(r.target)}</title><style>{STYLE}</style></head><body>",
        f"<h1>edgeprune deploy report: target <code>{escape(r.target)}</code></h1>",
        _p(
            f"Model {r.model} on {r.data.name} (split {r.data.split_text}, fine-tune seed {r.seed}); task"
            f" {r.task.name}, metric {r.task.metric} ({direction} is better)."
        ),
        table_html(size_table(r)),
        _p(prune_text(r)),
        _p(finetune_text(r)),
        "<h2>Plots</h2>",
        *(figure_html(f) for f in figures),
        "<h2>Artifacts</h2>",
        table_html(artifact_table(r)),
        _p(timing_text(r)),
        _p(memory_text(r)),
        *_embedded_html(r),
        "<h2>Widths per group</h2>",
        table_html(widths_table(r)),
        "<h2>Preprocessing and data</h2>",
        _p(f"The deployed model expects: {r.data.preprocessing_text}."),
        _p(f"Data {r.data.name}, input shape {r.data.input_shape}, split {r.data.split_text}."),
        "<h2>Versions</h2>",
        table_html(versions_table(r)),
        _p(f"Wall time {r.wall_s:.0f} s. Report record version {r.version} (report.json)."),
        *(_p(f"Note: {n}", "note") for n in r.notes),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
