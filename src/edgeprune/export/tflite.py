"""TFLite export through litert-torch; runs on ai-edge-litert."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.atomic import write_with
from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact
from edgeprune.logs import quiet


def export(model: nn.Module, example: torch.Tensor, path: Path, precision: str = "fp32") -> Artifact:
    """Convert ``model`` to a ``.tflite`` flatbuffer (fp32)."""
    if precision != "fp32":
        raise EdgepruneError(f"TFLite precision '{precision}' is not implemented yet by this exporter")
    try:
        with quiet():
            import litert_torch

            converted = litert_torch.convert(model, (example,))
    except Exception as exc:
        raise EdgepruneError(
            f"TFLite conversion of {type(model).__name__} failed: {str(exc).splitlines()[0][:500]}"
        ) from exc

    def write(tmp: Path) -> None:
        with quiet():
            converted.export(str(tmp))

    write_with(path, write)
    return Artifact(path=path, runtime="litert", precision=precision)
