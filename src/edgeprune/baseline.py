"""The unpruned model every command starts from: the user's checkpoint, or trained once on the data and cached.

One place owns "load or train-and-cache" and the check that model and data fit each other (the model runs on the
data's samples and the task's loss accepts its outputs), so deploy and every command fail the same way, early,
naming both. The cache lives in ``$EDGEPRUNE_CACHE/baselines`` keyed by content (model spec and its source file,
data fingerprint, task, training recipe), so a run from another working directory reuses it.

Before any training or loading, BatchNorm layers without running statistics are refused (or, asked for, given
statistics estimated on train samples). A user's checkpoint that scores at chance level on select samples stops the
commands that choose with its metric: its data is almost always not preprocessed as in training.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgeprune.cache import cache_dir
from edgeprune.config import FinetuneConfig, training_recipe
from edgeprune.data import Data, batches, calibration_samples, take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import fit
from edgeprune.hashing import json_hash, sha256_file
from edgeprune.models import ModelSpec, build_model, load_checkpoint, load_state, read_state_dict, save_weights
from edgeprune.models.batchnorm import norms_without_statistics, supplied_statistics, track_statistics
from edgeprune.models.checkpoint import adopt_statistics, mismatch
from edgeprune.models.mismatch import channel_hint, raise_explained
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import CLASSIFICATION, Task
from edgeprune.userload import source_file

BN_STAT_SAMPLES = 1024  # train samples that estimate missing BatchNorm statistics (--estimate-bn-stats)
CHANCE_SAMPLES = 1000  # select samples the chance-level check scores
CHANCE_SIGMAS = 3.0  # "within noise": at most this many binomial standard errors above chance


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
            f" {_first_line(exc)}{channel_hint(model, x, data)}"
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


def check_bn_statistics(model: nn.Module, spec: ModelSpec, checkpoint: str | Path | None, estimate: bool) -> None:
    """Refuse, before any training or loading, a model whose BatchNorm layers keep no running statistics, unless
    the checkpoint carries them or ``estimate`` asks for them to be estimated on train samples."""
    missing = norms_without_statistics(model)
    if not missing or estimate:
        return
    if checkpoint and not set(missing) - set(supplied_statistics(model, set(read_state_dict(checkpoint)))):
        return
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise EdgepruneError(
        f"model '{spec.spec}': BatchNorm layer(s) {shown} keep no running statistics (track_running_stats=False), so"
        " outputs depend on the batch and no converter can export them; pass --estimate-bn-stats (TOML"
        f" model.estimate_bn_stats = true) to estimate them on {BN_STAT_SAMPLES} train samples"
    )


def estimate_bn_statistics(model: nn.Module, data: Data, log: bool = True) -> list[str]:
    """Give statistic-less BatchNorm layers running statistics averaged over the first train samples."""
    missing = norms_without_statistics(model)
    if missing:
        track_statistics(model, missing)
        recalibrate_bn(model, calibration_samples(data, BN_STAT_SAMPLES))
        _say(log, f"note: estimated running statistics of {len(missing)} BatchNorm layer(s) on train samples")
    return missing


@dataclass(frozen=True)
class ChanceLevel:
    """A classifier's metric on select samples against chance: the larger of 1/classes and the most frequent
    class's share, plus ``CHANCE_SIGMAS`` binomial standard errors of that rate on ``samples``."""

    metric: float
    chance: float
    bound: float
    samples: int

    @property
    def decisive(self) -> bool:
        """Enough samples to tell: a perfect score would lie above the noise band."""
        return self.bound < 100.0

    @property
    def at_chance(self) -> bool:
        return self.decisive and self.metric <= self.bound


def chance_level(model: nn.Module, data: Data, task: Task) -> ChanceLevel | None:
    """How the classifier scores on up to ``CHANCE_SAMPLES`` select samples against chance (None for other
    tasks)."""
    if not (task.classification and data.num_classes and data.num_classes >= 2 and len(data.select)):
        return None
    subset = torch.utils.data.Subset(data.select, range(min(CHANCE_SAMPLES, len(data.select))))
    total, n, counts = 0.0, 0, torch.zeros(data.num_classes)
    model.eval()
    with torch.no_grad():
        for x, y in batches(subset, 256):
            total += float(task.metric(model(x), y)) * len(x)
            n += len(x)
            counts += torch.bincount(y.long().flatten().clamp(0, data.num_classes - 1), minlength=data.num_classes)
    p = max(1.0 / data.num_classes, float(counts.max()) / max(float(counts.sum()), 1.0))
    bound = 100.0 * (p + CHANCE_SIGMAS * (p * (1 - p) / max(n, 1)) ** 0.5)
    return ChanceLevel(total / max(n, 1), 100.0 * p, bound, n)


def check_not_chance(model: nn.Module, spec: ModelSpec, data: Data, task: Task, checkpoint: str | Path) -> None:
    """Stop when the user's weights score at chance on their data: the data is almost always not preprocessed the
    way the model was trained (``--allow-chance-baseline`` when it is intended)."""
    level = chance_level(model, data, task)
    if level is not None and not level.decisive:
        too_few = f"{level.chance:.1f}% + {CHANCE_SIGMAS:g} standard errors > 100%"
        _say(
            True, f"note: {level.samples} select samples cannot tell {checkpoint} from chance ({too_few}); not checked"
        )
    if level is None or not level.at_chance:
        return
    raise EdgepruneError(
        f"checkpoint {checkpoint}: model '{spec.spec}' scores {level.metric:.2f}% {task.metric_name} on"
        f" {level.samples} select samples of data '{data.name}', chance level ({level.chance:.1f}% for"
        f" {data.num_classes} classes, <= {level.bound:.1f}% within noise); is the data preprocessed as in training?"
        " pass the same --mean/--std, --scale, --channels (or --resize/--crop), or --allow-chance-baseline"
        " (TOML model.allow_chance_baseline = true) if this is intended"
    )


def unpruned_structure(
    spec: str | ModelSpec,
    data: Data,
    task: Task = CLASSIFICATION,
    checkpoint: str | Path | None = None,
    estimate_bn_stats: bool = False,
) -> tuple[ModelSpec, nn.Module]:
    """The model built from its spec (random weights) once it passed the checks any work needs: BatchNorm layers
    keep running statistics (or will get them), and the model runs on the data's samples and the task's loss."""
    spec = spec if isinstance(spec, ModelSpec) else model_spec(spec, data)
    model = build_model(spec)
    check_bn_statistics(model, spec, checkpoint, estimate_bn_stats)
    check_fits(model, spec, data, task)
    return spec, model


def load_baseline(
    spec: str | ModelSpec,
    data: Data,
    task: Task = CLASSIFICATION,
    checkpoint: str | Path | None = None,
    train_epochs: int = 12,
    task_key: str = "classification",
    log: bool = True,
    *,
    estimate_bn_stats: bool = False,
    allow_chance: bool | None = None,
) -> Baseline:
    """The unpruned model: ``checkpoint`` if given, else trained once on ``data`` (train split, select for early
    choice) and cached. Model and data are checked to fit first, and BatchNorm layers without running statistics
    are refused before any work unless ``estimate_bn_stats``. ``allow_chance=False``: a checkpoint scoring at
    chance on select samples stops the run (None: not checked)."""
    spec, model = unpruned_structure(spec, data, task, checkpoint, estimate_bn_stats)
    if checkpoint:
        state = read_state_dict(checkpoint, set(model.state_dict()))
        adopt_statistics(model, state)
        if mismatch(model, state):
            raise_explained(spec, state, checkpoint, data)  # the channels or the labels, when they are the cause
        load_state(model, state, checkpoint)
        estimate_bn_statistics(model, data, log)
        if allow_chance is False:
            check_not_chance(model, spec, data, task, checkpoint)
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
    estimate_bn_statistics(model, data, log)
    _warn_if_chance(model, data, task, spec, log)
    if path is not None:
        save_weights(model, path)
        _say(log, f"baseline trained and cached: {path}")
    return Baseline(spec, model.eval(), str(path or ""), "trained")


def _warn_if_chance(model: nn.Module, data: Data, task: Task, spec: ModelSpec, log: bool) -> None:
    level = chance_level(model, data, task)
    if level is not None and level.at_chance:
        _say(
            log,
            f"warning: the trained baseline of '{spec.spec}' scores {level.metric:.1f}% on the select split, chance"
            f" level ({level.chance:.1f}%): check the data and its labels, or pass --checkpoint",
        )


def _say(log: bool, text: str) -> None:
    if log:
        print(
            f"[edgeprune] {text}", file=sys.stderr if text.startswith(("note", "warning")) else sys.stdout, flush=True
        )
