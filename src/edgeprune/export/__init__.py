"""Exporters resolved through the format table; each returns an :class:`Artifact` that runs on the real runtime."""

from edgeprune.export.artifact import Artifact, load_artifact
from edgeprune.export.diagnose import UnsupportedModelError
from edgeprune.export.metadata import metadata_path, read_metadata
from edgeprune.export.parity import ParityReport, check_parity, relative_error
from edgeprune.export.registry import export_model
from edgeprune.export.verified import Parity, VerifiedArtifact, export_verified
from edgeprune.export.verify import Int8Report, check_int8_accuracy, verify_artifact
from edgeprune.formats import known_formats
from edgeprune.hashing import state_dict_hash

__all__ = [
    "Artifact",
    "Int8Report",
    "Parity",
    "ParityReport",
    "UnsupportedModelError",
    "VerifiedArtifact",
    "check_int8_accuracy",
    "check_parity",
    "export_model",
    "export_verified",
    "known_formats",
    "load_artifact",
    "metadata_path",
    "read_metadata",
    "relative_error",
    "state_dict_hash",
    "verify_artifact",
]
