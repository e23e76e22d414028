"""Built-in zoo and user-model loading."""

from edgeprune.models.checkpoint import load_checkpoint, save_weights
from edgeprune.models.spec import ModelSpec, build_model, known_model_kinds

__all__ = ["ModelSpec", "build_model", "known_model_kinds", "load_checkpoint", "save_weights"]
