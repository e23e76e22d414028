"""Built-in zoo and user-model loading."""

from edgeprune.models.checkpoint import load_checkpoint, load_state, read_state_dict, save_weights
from edgeprune.models.spec import ModelSpec, build_model, is_builtin, known_model_kinds

__all__ = [
    "ModelSpec",
    "build_model",
    "is_builtin",
    "known_model_kinds",
    "load_checkpoint",
    "load_state",
    "read_state_dict",
    "save_weights",
]
