"""Why a model (and its checkpoint) does not fit the data, said in terms the user can act on.

A model built for the data's input channels and class count may still refuse the data's samples or the user's
checkpoint. When the same model built with another channel count, or the checkpoint's class count, fits, the
cause is the input channels (``--channels N``) or the labels, and the message says so instead of quoting shapes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from edgeprune.data import Data
from edgeprune.data.labels import first_label_from
from edgeprune.errors import EdgepruneError
from edgeprune.models.checkpoint import mismatch
from edgeprune.models.spec import ModelSpec, build_model

CHANNEL_COUNTS = (1, 3)  # what --channels can give
RGB_NOTE = "image folders are read as RGB, like torchvision's ImageFolder"


def _channels_flag(data: Data, wanted: int) -> str:
    """Advice reaching ``wanted`` channels with the data's own preprocessing flags, or ``""`` if none can."""
    have = int(data.input_shape[0])
    if data.name.startswith("imagefolder:"):
        note = f" ({RGB_NOTE})" if have == 3 else ""
        return f": pass --channels {wanted} (data.channels = {wanted} in a target){note}"
    if data.name.startswith("npz:") and have == 1 and wanted == 3:
        return f": pass --channels {wanted} to repeat the one channel"
    return ""


def channel_hint(model: nn.Module, x: torch.Tensor, data: Data) -> str:
    """``"; the model takes 1 channel(s): pass --channels 1 ..."`` when ``model`` runs on ``x`` (N, C, H, W) with
    another channel count; ``""`` otherwise."""
    if x.ndim != 4:
        return ""
    have = x.shape[1]
    for wanted in CHANNEL_COUNTS:
        if wanted == have or (wanted > 1 and have != 1):
            continue
        probe = x[:, :1] if wanted == 1 else x.expand(-1, wanted, -1, -1)
        try:
            with torch.no_grad():
                model.eval()(probe)
        except Exception:  # the other count does not run either: the channels are not the cause
            continue
        return f"; the model takes {wanted} input channel(s), the data gives {have}{_channels_flag(data, wanted)}"
    return ""


def _fits(spec: ModelSpec, state: dict[str, torch.Tensor]) -> bool:
    try:
        return mismatch(build_model(spec), state) is None
    except Exception:  # the user's factory may refuse a variant: then that variant is not the explanation
        return False


def explain_checkpoint(spec: ModelSpec, state: dict[str, torch.Tensor], path: str | Path, data: Data) -> str | None:
    """The cause of a checkpoint's shape mismatch when it is the input channels or the labels, else None."""
    own = build_model(spec).state_dict()
    if set(own) != set(state):
        return None  # other keys: another architecture, not another channel or class count
    wrong = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if not wrong:
        return None
    key, shape = wrong[0], tuple(state[wrong[0]].shape)
    for channels in CHANNEL_COUNTS:
        if channels != spec.in_channels and _fits(dataclasses.replace(spec, in_channels=channels), state):
            return (
                f"checkpoint {path} was trained on {channels}-channel inputs ({key} {shape}) but data '{data.name}'"
                f" gives {spec.in_channels}{_channels_flag(data, channels)}"
            )
    if spec.num_classes is None or data.num_classes is None:
        return None
    for classes in sorted({int(state[k].shape[0]) for k in wrong if state[k].ndim}):
        if classes == spec.num_classes or not _fits(dataclasses.replace(spec, num_classes=classes), state):
            continue
        key = next(k for k in wrong if state[k].ndim and state[k].shape[0] == classes)
        shape = tuple(state[key].shape)
        if classes < data.num_classes:
            where = first_label_from(data, classes)
            return (
                f"data '{data.name}' has labels up to {data.num_classes - 1}{f' ({where})' if where else ''}, but"
                f" checkpoint {path} was trained for {classes} classes ({key} {shape}): labels must lie in"
                f" 0..{classes - 1}"
            )
        return (
            f"data '{data.name}' shows {data.num_classes} classes (labels 0..{data.num_classes - 1}) but checkpoint"
            f" {path} was trained for {classes} ({key} {shape}): pass --num-classes {classes} if the data lacks some"
        )
    return None


def raise_explained(spec: ModelSpec, state: dict[str, torch.Tensor], path: str | Path, data: Data) -> None:
    """Raise the explained mismatch (see :func:`explain_checkpoint`) if there is one."""
    explained = explain_checkpoint(spec, state, path, data)
    if explained:
        raise EdgepruneError(explained)
