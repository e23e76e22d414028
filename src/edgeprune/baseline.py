"""The unpruned model every command starts from: the user's checkpoint, or trained once on the data and cached.

One place owns "load or train-and-cache" and the check that model and data fit each other (the model runs on the
data's samples and the task's loss accepts its outputs), so deploy and every command fail the same way, early,
naming both. The cache lives in ``$EDGEPRUNE_CACHE/baselines`` keyed by content (model spec and its source file,
data fingerprint, task, training recipe), so a run from another working directory reuses it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgeprune.cache import cache_dir
from edgeprune.config import FinetuneConfig, training_recipe
from edgeprune.data import Data, take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import fit
from edgeprune.hashing import json_hash, sha256_file
from edgeprune.models import ModelSpec, build_model, load_checkpoint, save_weights
from edgeprune.task import CLASSIFICATION, Task, evaluate
from edgeprune.userload import source_file


@dataclass(frozen=True)
class Baseline:
    """The unpruned model, how to rebuild it, and where its weights came from."""

    spec: ModelSpec
    model: nn.Module
    checkpoint: str  # the user's file or the cache entry
    source: str  # "checkpoint" | "cache" | "trained"


def model_spec(spec: str, data: Data) -> ModelSpec:
    """The spec with the data's class count and input channels."""
    return ModelSpec(spec, num_classes=data.num_classes, in_channels=int(data.input_shape[0]))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def check_fits(model: nn.Module, spec: ModelSpec, data: Data, task: Task = CLASSIFICATION) -> None:
    """Fail early, naming model and data, when the model cannot take the data's samples or the task's targets."""
    x, y = take(data.select, 2)
    task.see(model, x)
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except Exception as exc:  # any forward failure here is a model/data mismatch
        raise EdgepruneError(
            f"model '{spec.spec}' cannot run on samples of data '{data.name}' with shape {tuple(x.shape)}:"
            f" {_first_line(exc)}"
        ) from None
    if task.classification:
        ok = isinstance(out, torch.Tensor) and out.ndim >= 2 and out.shape[0] == len(x)
        if ok and data.num_classes is not None and out.ndim == 2:
            ok = out.shape[1] == data.num_classes
        if not ok:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            need = data.num_classes if data.num_classes is not None else "C"
            raise EdgepruneError(
                f"model '{spec.spec}' returns {shape}; data '{data.name}' needs logits of shape (N, {need})"
            )
    try:
        with torch.no_grad():
            float(task.loss(out, y))
    except EdgepruneError:
        raise
    except Exception as exc:  # the task's loss cannot compare outputs and targets
        raise EdgepruneError(
            f"the {task.name} loss cannot take model '{spec.spec}' outputs with data '{data.name}' targets:"
            f" {_first_line(exc)}"
        ) from None


def cache_key(spec: ModelSpec, data: Data, task_key: str, recipe: FinetuneConfig) -> str:
    """Content key of a trained baseline."""
    src = source_file(spec.spec)
    code = sha256_file(src) if src is not None and src.is_file() else ""
    return json_hash([spec.to_dict(), code, data.fingerprint, task_key, recipe.__dict__], length=20)


def load_baseline(
    spec: str | ModelSpec,
    data: Data,
    task: Task = CLASSIFICATION,
    checkpoint: str | Path | None = None,
    train_epochs: int = 12,
    task_key: str = "classification",
    log: bool = True,
) -> Baseline:
    """The unpruned model: ``checkpoint`` if given, else trained once on ``data`` (train split, select for early
    choice) and cached. Model and data are checked to fit first."""
    spec = spec if isinstance(spec, ModelSpec) else model_spec(spec, data)
    model = build_model(spec)
    check_fits(model, spec, data, task)
    if checkpoint:
        load_checkpoint(model, checkpoint)
        return Baseline(spec, model.eval(), str(checkpoint), "checkpoint")
    recipe = training_recipe(train_epochs)
    folder = cache_dir("baselines")
    path = folder / f"{cache_key(spec, data, task_key, recipe)}.safetensors" if folder else None
    if path is not None and path.is_file():
        try:
            load_checkpoint(model, path)
            _say(log, f"baseline loaded from cache: {path}")
            return Baseline(spec, model.eval(), str(path), "cache")
        except EdgepruneError as exc:
            _say(log, f"note: ignoring a broken cache entry ({exc}); training again")
    fit(model, data, recipe, description=f"train {spec.spec} on {data.name}", task=task)
    _warn_if_chance(model, data, task, spec, log)
    if path is not None:
        save_weights(model, path)
        _say(log, f"baseline trained and cached: {path}")
    return Baseline(spec, model.eval(), str(path or ""), "trained")


def _warn_if_chance(model: nn.Module, data: Data, task: Task, spec: ModelSpec, log: bool) -> None:
    if not (task.classification and data.num_classes):
        return
    metric, _ = evaluate(model, data.select, task=task)
    chance = 100.0 / data.num_classes
    if metric < 1.5 * chance:
        _say(
            log,
            f"warning: the trained baseline of '{spec.spec}' scores {metric:.1f}% on the select split, about chance"
            f" ({chance:.1f}%): check the data and its preprocessing, or pass --checkpoint",
        )


def _say(log: bool, text: str) -> None:
    if log:
        print(
            f"[edgeprune] {text}", file=sys.stderr if text.startswith(("note", "warning")) else sys.stdout, flush=True
        )
