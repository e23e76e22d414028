"""Model + data for the ``sensitivity`` and ``plan`` commands: a checkpoint if given, else train-or-load."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from edgeprune.data import Dataset
    from edgeprune.models import ModelSpec


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="edgeprune:default", help="model spec (default: edgeprune:default)")
    parser.add_argument("--data", default="mnist5k", help="data spec (default: mnist5k)")
    parser.add_argument("--checkpoint", default=None, help="safetensors/state-dict weights for --model")
    parser.add_argument("--train-epochs", type=int, default=12, help="epochs when training a missing baseline")


def load_model_and_data(args: argparse.Namespace) -> tuple[ModelSpec, nn.Module, Dataset]:
    """Without ``--checkpoint`` the model is trained once on the data and cached under build/models."""
    from edgeprune.data import load_dataset
    from edgeprune.models import ModelSpec, build_model, load_checkpoint

    data = load_dataset(args.data)
    spec = ModelSpec(args.model, num_classes=data.num_classes, in_channels=data.input_shape[0])
    if args.checkpoint:
        return spec, load_checkpoint(build_model(spec), args.checkpoint).eval(), data
    from edgeprune.models.pretrained import train_or_load

    model, path, cached = train_or_load(spec, data, args.train_epochs)
    print(f"baseline {'loaded from cache' if cached else 'trained and cached'}: {path}")
    return spec, model.eval(), data


def parse_ratios(text: str) -> list[float]:
    """``"0.1,0.3,0.5"`` -> floats; errors name the flag."""
    from edgeprune.errors import EdgepruneError

    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise EdgepruneError(f"--ratios '{text}': expected comma-separated numbers like 0.1,0.3,0.5") from None
