"""How deploy reaches its budget: strategies keyed by ``prune.method``, and the tolerance search around them.

- ``uniform``: one ratio for every coupled group, bisected to the budget, then filled back toward it.
- ``sensitivity``: per-group ratios and blocks from a cached sensitivity scan, allocated greedily at the least
  predicted damage; each damage objective yields a candidate and the best one scored on choosing samples wins.
- ``auto`` (the default): both of the above, each pruned for real, BatchNorm re-estimated on train samples and
  scored on the select split; the better scored plan wins. Neither allocation is best everywhere: measured after
  the same 2-epoch fine-tune, the sensitivity plan led at 0.05x MACs on MNIST (93.9% vs 78.3%) and at 0.5x on
  kws-synth (86.2% vs 84.4%), the uniform one at 0.2x on kws-synth (78.9% vs 73.2%), where the sensitivity plan
  squeezed one layer to 11 of 64 channels; the select score before fine-tuning picked the winner in each case.
Every strategy chooses on choosing samples only (select, then train), never on validation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from edgeprune.config import FinetuneConfig, PruneConfig
from edgeprune.data import Data, calibration_samples, choosing_samples, take
from edgeprune.errors import ConfigError, EdgepruneError
from edgeprune.importance import Criterion, get_importance
from edgeprune.pipeline.probe import probe_metric
from edgeprune.planning import Planned, PlanOptions, plan_to_budget, smallest_within, uniform_to_budget
from edgeprune.progress import progress_bar
from edgeprune.sensitivity import ScanOptions, Sensitivity, sensitivity
from edgeprune.task import Task

CHOOSING_SAMPLES = 1000


@dataclass(frozen=True)
class Request:
    """What a strategy prunes and with what: the unpruned model, the data, the task and the prune settings."""

    model: nn.Module
    example: torch.Tensor
    spec: dict
    cfg: PruneConfig
    data: Data
    task: Task
    task_key: str
    scan_settings: dict = dataclasses.field(default_factory=dict)  # ScanOptions fields the user set (``plan``)
    finetune: FinetuneConfig | None = None  # the recovery fine-tune to come (set by prune_to_budget: auto's probe)

    def samples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Choosing samples (select, then train) for criteria that need data."""
        n = min(CHOOSING_SAMPLES, len(self.data.select) + len(self.data.train))
        return choosing_samples(self.data, n)

    def holdout(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The select split: BatchNorm recalibration and the planner's prediction (never seen by training)."""
        return take(self.data.select, CHOOSING_SAMPLES)

    def calibration(self) -> torch.Tensor:
        """Train samples that re-estimate BatchNorm statistics before a plan is scored on the select split (so the
        prediction, like the applied figure on validation, never calibrates on the samples it scores)."""
        return calibration_samples(self.data, self.cfg.recalibrate)

    def options(self, budget: float | None = None) -> PlanOptions:
        kind, fraction = self.cfg.budget
        return PlanOptions(
            budget=fraction if budget is None else budget,
            kind=kind,
            round_to=self.cfg.round_to,
            max_ratio=self.cfg.max_ratio,
            ignored_layers=tuple(self.cfg.ignored_layers),
            recalibrate=self.cfg.recalibrate,
        )

    def scan(self) -> Sensitivity:
        """The cached sensitivity scan of the unpruned model with these prune settings (choosing samples only)."""
        scan = ScanOptions(
            **{
                "samples": min(CHOOSING_SAMPLES, len(self.data.select) + len(self.data.train)),
                "importance": self.cfg.importance,
                "round_to": self.cfg.round_to,
                "ignored_layers": tuple(self.cfg.ignored_layers),
                "recalibrate": self.cfg.recalibrate,
                **self.scan_settings,
            }
        )
        name = self.spec.get("spec", "")
        return sensitivity(self.model, self.data, scan, self.task, name=name, task_key=self.task_key)

    def criterion(self) -> Criterion:
        x, y = self.samples()
        return get_importance(self.cfg.importance, self.model, x, y, loss=self.task.loss)


Strategy = Callable[[Request, float | None], Planned]


def _uniform(req: Request, budget: float | None) -> Planned:
    return uniform_to_budget(
        req.model, req.example, req.options(budget), req.criterion(), req.holdout(), req.task, req.spec,
        req.calibration(),
    )  # fmt: skip


def _sensitivity(req: Request, budget: float | None) -> Planned:
    return plan_to_budget(
        req.model, req.example, req.scan(), req.options(budget), req.criterion(), req.holdout(), req.task,
        req.spec, req.calibration(),
    )  # fmt: skip


def _auto(req: Request, budget: float | None) -> Planned:
    """Both plans, the better on select kept: scored after ``prune.probe_steps`` steps of the recovery fine-tune
    (:mod:`edgeprune.pipeline.probe`) when the fine-tune is known, else right after pruning. A method that cannot
    plan this model (its plan changes the model's outputs, say) leaves the other, and the reason is recorded."""
    candidates: list[Planned] = []
    failed: dict[str, str] = {}
    for name, strategy in (("uniform", _uniform), ("sensitivity", _sensitivity)):
        try:
            candidates.append(strategy(req, budget))
        except EdgepruneError as exc:
            failed[name] = str(exc).splitlines()[0][:300]
    if not candidates:
        raise EdgepruneError(f"prune.method 'auto': no method could plan this model: {failed}")
    probed = len(candidates) > 1 and req.finetune is not None and req.cfg.probe_steps > 0
    scores = [c.predicted for c in candidates]
    if probed:
        assert req.finetune is not None
        scores = [probe_metric(req.model, req.data, req.task, c, req.finetune, req.cfg.probe_steps) for c in candidates]
    best = 0
    for k in range(1, len(candidates)):
        if scores[k] is not None and (scores[best] is None or req.task.better(scores[k], scores[best])):
            best = k
    chosen = candidates[best]
    chosen.details["auto"] = {
        **{c.method: None if c.predicted is None else round(c.predicted, 4) for c in candidates},
        **{f"{name} failed": reason for name, reason in failed.items()},
    }
    if probed:
        chosen.details["auto"]["probe_steps"] = req.cfg.probe_steps
        chosen.details["auto"].update(
            {f"{c.method} probed": round(float(s), 4) for c, s in zip(candidates, scores, strict=True)}
        )
    return chosen


STRATEGIES: dict[str, Strategy] = {"auto": _auto, "uniform": _uniform, "sensitivity": _sensitivity}


def known_strategies() -> list[str]:
    return sorted(STRATEGIES)


def strategy_named(name: str) -> Strategy:
    strategy = STRATEGIES.get(name)
    if strategy is None:
        raise ConfigError(f"prune.method '{name}' is unknown (known: {known_strategies()})")
    return strategy


def prune_to_budget(req: Request, finetune: FinetuneConfig) -> Planned:
    """The strategy's plan at the configured budget, or (``prune.max_drop`` set) the smallest budget whose briefly
    fine-tuned select metric stays within ``max_drop`` of the unpruned model."""
    strategy = strategy_named(req.cfg.method)
    kind, fraction = req.cfg.budget
    req = dataclasses.replace(req, finetune=finetune)
    if req.cfg.max_drop is None:
        with progress_bar(f"plan ({req.cfg.method}) to {fraction:g}x {kind}", total=1) as bar:
            planned = strategy(req, None)
            bar.advance()
        return planned
    short = dataclasses.replace(finetune, epochs=min(finetune.epochs, 2), steps=0, patience=0)
    floor = req.cfg.budget[1]
    tol = smallest_within(
        req.model, req.data, lambda b: strategy(req, b), req.cfg.max_drop, short, floor=min(floor, 0.99), task=req.task
    )
    if tol.best is None:
        raise ConfigError(
            f"prune.max_drop {req.cfg.max_drop}: no tried budget kept the select metric within it"
            f" (tried {[t['budget'] for t in tol.trials]}); raise max_drop or the floor (prune.macs)"
        )
    tol.best.details["tolerance"] = tol.summary(short.epochs)
    return tol.best
