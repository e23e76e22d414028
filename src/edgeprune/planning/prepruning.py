"""Pruning before training (``prune.when = "before"``): prune the architecture at initialization, train it.

The alternative to train -> prune -> fine-tune ("after"). The freshly initialized model is pruned to the
MACs budget with one uniform ratio (bisected, as ``prune.method = "uniform"`` does after training, so
both reach the same widths and MACs), and the channels kept are chosen by

- ``snip``: connection sensitivity at initialization, |g * w| averaged over a few mini-batches of the
  select split (Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection Sensitivity",
  ICLR), summed per channel over the group's layers: edgeprune's ``taylor`` criterion on the untrained
  model;
- ``uniform``: no scores: the first channels of every group (at initialization every channel is an
  independent draw, so this is simply the thinner network).

The smaller model is then trained from scratch with the recipe baselines are trained with
(:func:`edgeprune.models.pretrained.training_config`). benchmarks/prepruning.py compares it with post-pruning
at the same total epochs and MACs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.config import FinetuneConfig, training_recipe
from edgeprune.data import Data, take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import FitResult, fit
from edgeprune.importance import get_importance
from edgeprune.models import ModelSpec, build_model
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import Plan, count_macs_params

WHEN = ("before", "after")
INIT_SCORES = ("snip", "uniform")
SNIP_BATCHES = 4


@dataclass
class PrePruned:
    """A model pruned at initialization (trained once ``result`` is set), its plan and MACs."""

    model: nn.Module
    plan: Plan
    macs: int
    base_macs: int
    ratio: float
    score: str
    result: FitResult | None = None
    details: dict[str, Any] = field(default_factory=dict)
    base_params: int = 0


def first_channels(group: Any) -> torch.Tensor:
    """Scores that keep the lowest-numbered indices of a group (``uniform`` at initialization)."""
    width = len(group[0].idxs)
    return torch.arange(width, 0, -1, dtype=torch.float32)


first_channels.__name__ = "uniform-init"  # type: ignore[attr-defined]


def _init_scorer(score: str, model: nn.Module, data: Data, batch_size: int, loss: Any = None) -> Any:
    if score == "uniform":
        return first_channels
    if score == "snip":
        x, y = take(data.select, SNIP_BATCHES * batch_size)
        if len(x) == 0:
            raise EdgepruneError(f"dataset {data.name}: the select split is empty; SNIP scoring needs samples")
        return get_importance("taylor", model, x, y, loss=loss, batches=SNIP_BATCHES)
    raise EdgepruneError(f"prune-at-init score '{score}' is unknown (known: {list(INIT_SCORES)})")


def prune_at_init(
    spec: ModelSpec,
    data: Data,
    macs: float,
    score: str = "snip",
    *,
    round_to: int = 1,
    max_ratio: float = 0.9,
    ignored_layers: Iterable[str] = (),
    seed: int = 0,
    batch_size: int = 64,
    loss: Any = None,
) -> PrePruned:
    """A freshly initialized ``spec`` (seeded) pruned to at most ``macs`` (fraction) of its MACs; untrained.

    ``loss``: what SNIP differentiates (the task's loss; cross-entropy when None)."""
    if not 0.0 < macs <= 1.0:
        raise EdgepruneError(f"prune.macs is {macs}; it must lie in (0, 1]")
    torch.manual_seed(seed)
    model = build_model(spec).eval()
    example = take(data.select, 1)[0].clone()
    base_macs, base_params = count_macs_params(model, example)
    scorer = _init_scorer(score, model, data, batch_size, loss)
    ignored = list(ignored_layers)

    def prune_at(ratio: float) -> tuple[tuple[nn.Module, Plan], int]:
        pruned, plan, pruned_macs = prune_uniform(model, example, ratio, scorer, round_to, spec, ignored)
        return (pruned, plan), pruned_macs

    ratio, (pruned, plan), pruned_macs = smallest_ratio_meeting(prune_at, int(macs * base_macs), max_ratio)
    return PrePruned(pruned, plan, pruned_macs, int(base_macs), ratio, score, base_params=int(base_params))


def prune_before_training(
    spec: ModelSpec,
    data: Data,
    macs: float,
    epochs: int,
    score: str = "snip",
    *,
    train: FinetuneConfig | None = None,
    round_to: int = 1,
    max_ratio: float = 0.9,
    ignored_layers: Iterable[str] = (),
    seed: int = 0,
    description: str = "train the pre-pruned model",
) -> PrePruned:
    """``prune.when = "before"``: prune ``spec`` at initialization to ``macs``, then train it ``epochs`` epochs
    from scratch (``train`` defaults to the baseline recipe; its ``epochs`` is replaced)."""
    cfg = train or training_recipe(epochs, seed)
    cfg = dataclasses.replace(cfg, epochs=epochs, seed=seed, distill=False)
    pre = prune_at_init(
        spec,
        data,
        macs,
        score,
        round_to=round_to,
        max_ratio=max_ratio,
        ignored_layers=ignored_layers,
        seed=seed,
        batch_size=cfg.batch_size,
    )
    pre.model.train()
    pre.result = fit(pre.model, data, cfg, description=description)
    pre.details = {"epochs": epochs, "recipe": dict(cfg.__dict__)}
    return pre
