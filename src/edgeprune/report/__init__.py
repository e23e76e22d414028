"""Deploy reports: ``report.json`` for tools and ``report.md`` for people, both from one typed record."""

from edgeprune.report.markdown import render_markdown
from edgeprune.report.record import (
    DataSummary,
    DeployReport,
    FinetuneFigures,
    ModelFigures,
    PruneFigures,
    TaskSummary,
    TimedArtifact,
)
from edgeprune.versions import versions

__all__ = [
    "DataSummary",
    "DeployReport",
    "FinetuneFigures",
    "ModelFigures",
    "PruneFigures",
    "TaskSummary",
    "TimedArtifact",
    "render_markdown",
    "versions",
]
