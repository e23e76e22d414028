"""Deploy reports: ``report.json`` for tools, ``report.md`` and ``report.html`` (plots) for people, all from one
typed record."""

from edgeprune.report.html import render_html
from edgeprune.report.markdown import render_markdown
from edgeprune.report.record import (
    ConnectionFigures,
    DataSummary,
    DeployReport,
    FinetuneFigures,
    LatencyFigures,
    ModelFigures,
    PruneFigures,
    TaskSummary,
    TimedArtifact,
)
from edgeprune.versions import versions

__all__ = [
    "ConnectionFigures",
    "DataSummary",
    "DeployReport",
    "FinetuneFigures",
    "LatencyFigures",
    "ModelFigures",
    "PruneFigures",
    "TaskSummary",
    "TimedArtifact",
    "render_html",
    "render_markdown",
    "versions",
]
