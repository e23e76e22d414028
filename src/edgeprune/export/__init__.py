"""Exporters resolved by name; each returns an :class:`Artifact` that runs on the real runtime."""

from edgeprune.export.artifact import Artifact, load_artifact
from edgeprune.export.diagnose import UnsupportedModelError
from edgeprune.export.metadata import metadata_path, read_metadata, state_dict_hash
from edgeprune.export.parity import ParityReport, check_parity, relative_error
from edgeprune.export.registry import export_model, known_formats
from edgeprune.export.verify import Int8Report, check_int8_accuracy, verify_artifact

__all__ = [
    "Artifact",
    "Int8Report",
    "ParityReport",
    "UnsupportedModelError",
    "check_int8_accuracy",
    "check_parity",
    "export_model",
    "known_formats",
    "load_artifact",
    "metadata_path",
    "read_metadata",
    "relative_error",
    "state_dict_hash",
    "verify_artifact",
]
