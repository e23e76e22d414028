"""Deploy reports: ``report.json`` for tools and ``report.md`` for people."""

from edgeprune.report.markdown import render_markdown
from edgeprune.report.versions import versions

__all__ = ["render_markdown", "versions"]
