"""Train-or-load: the built-in default is trained once on its dataset and cached under ``build/models``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import Dataset
from edgeprune.finetune import fit
from edgeprune.models.checkpoint import load_checkpoint, save_weights
from edgeprune.models.spec import ModelSpec, build_model

CACHE_DIR = Path("build/models")


def training_config(epochs: int) -> FinetuneConfig:
    """The recipe used to train a baseline from scratch (no teacher)."""
    return FinetuneConfig(epochs=epochs, lr=4e-3, batch_size=64, distill=False, label_smoothing=0.05, seed=0)


def cache_path(spec: ModelSpec, data: Dataset, epochs: int, cache_dir: Path = CACHE_DIR) -> Path:
    """Checkpoint path keyed by model spec, dataset, split and training recipe."""
    key = json.dumps([spec.to_dict(), data.describe(), training_config(epochs).__dict__], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    safe = spec.spec.replace(":", "-").replace("/", "_")
    return cache_dir / f"{safe}-{data.name.replace(':', '-')}-{digest}.safetensors"


def train_or_load(
    spec: ModelSpec, data: Dataset, epochs: int, cache_dir: Path = CACHE_DIR
) -> tuple[nn.Module, Path, bool]:
    """Return (model, checkpoint path, was_cached). Trains and caches the checkpoint when missing."""
    path = cache_path(spec, data, epochs, cache_dir)
    model = build_model(spec)
    if path.is_file():
        return load_checkpoint(model, path), path, True
    fit(model, data, training_config(epochs), description=f"train {spec.spec} on {data.name}")
    save_weights(model, path)
    return model.eval(), path, False
