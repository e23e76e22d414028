"""Exporters resolved by name; each returns an :class:`Artifact` that runs on the real runtime."""

from edgeprune.export.artifact import Artifact, load_artifact
from edgeprune.export.parity import ParityReport, check_parity, relative_error
from edgeprune.export.registry import export_model, known_formats

__all__ = [
    "Artifact",
    "ParityReport",
    "check_parity",
    "export_model",
    "known_formats",
    "load_artifact",
    "relative_error",
]
