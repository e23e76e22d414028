"""edgeprune's default method end to end: prune the unpruned model to the budget, then train the pruned model with
the unpruned one as teacher. ``deploy`` and ``benchmarks/compression.py`` both call :func:`prune_and_train`, so the
method the frontier benchmark measures is the one users get.

Recovery: the fine-tune's peak learning rate is the configured one divided by the square root of the fraction kept
(:func:`edgeprune.pipeline.recipe.recovery_recipe`); the same recipe is what the benchmark gives every peer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.finetune import FitResult, fit
from edgeprune.finetune.loop import Callback
from edgeprune.pipeline.recipe import recovery_recipe
from edgeprune.pipeline.strategies import Request, prune_to_budget
from edgeprune.planning import Planned


@dataclass
class Outcome:
    """The pruned, trained model's plan and the training that recovered it."""

    planned: Planned
    fit: FitResult
    recipe: FinetuneConfig  # the recipe the pruned model was trained with (see recovery_recipe)
    steps: list[dict[str, Any]] = field(default_factory=list)
    callback: Any = None  # what trained alongside the last fit (e.g. connection masks), if anything

    @property
    def model(self) -> nn.Module:
        return self.planned.model

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.planned.method,
            "fraction": round(self.planned.fraction, 6),
            "predicted": self.planned.predicted,
            "lr": self.recipe.lr,
            "batch_size": self.recipe.batch_size,
            "best_epoch": self.fit.best_epoch,
            "fit_s": round(self.fit.wall_s, 1),
            "steps": self.steps,
        }


def prune_and_train(
    req: Request,
    finetune: FinetuneConfig,
    teacher: nn.Module | None,
    description: str = "fine-tune",
    callback_for: Callable[[nn.Module], Callback | None] = lambda model: None,
) -> Outcome:
    """Prune ``req.model`` (untouched) with the configured strategy, then fine-tune the copy for ``finetune``'s
    epochs (peak learning rate per :func:`recovery_recipe`) with distillation from ``teacher``;
    ``callback_for(pruned model)`` gives the fit's callback (e.g. the connection masks of ``prune.sparsity``)."""
    planned = prune_to_budget(req, finetune)
    recipe = recovery_recipe(finetune, planned.budget)
    planned.details["recovery"] = {"lr": recipe.lr, "batch_size": recipe.batch_size, "rule": "lr / sqrt(kept)"}
    callback = callback_for(planned.model)
    result = fit(planned.model, req.data, recipe, teacher=teacher, description=description, task=req.task,
                 callback=callback)  # fmt: skip
    return Outcome(planned, result, recipe, callback=callback)
