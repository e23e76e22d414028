"""Choosing between pruned candidates by a short fine-tune: each gets the first ``prune.probe_steps`` optimizer
steps of the recovery fine-tune (same recipe, distillation from the unpruned model, the fine-tune's seed) on a copy,
and is scored on the select split.

The select score right after pruning (BatchNorm re-estimated) ranks plans by how much they break, not by how well
they recover: measured on the default model (MNIST-5k, seed 0, 2 epochs), it chose the sensitivity plan at 0.5x and
0.2x MACs (96.6 / 70.4% against the uniform plan's 93.8 / 36.8%) although the uniform plan recovers better (98.3 vs
98.0%, 98.3 vs 97.9% on validation); on DS-CNN (kws-synth) at 0.05x both scored near chance (9.2 / 8.2%) and it
chose the uniform plan, which recovers to 44.6% against the sensitivity plan's 54.0%. After 40 steps the ranking
agreed with the recovered one in both cases. The probes are the extra cost of the choice: ``probe_steps`` per
candidate on top of the fine-tune (80 steps: 0.37 of an epoch on kws-synth, 0.73 on MNIST-5k at batch 32); the
chosen plan restarts from its pruned weights, so every method's fine-tune stays the same length.
"""

from __future__ import annotations

import copy
import dataclasses

from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import Data
from edgeprune.finetune import fit
from edgeprune.pipeline.recipe import recovery_recipe
from edgeprune.planning import Planned
from edgeprune.task import Task


def probe_metric(
    unpruned: nn.Module, data: Data, task: Task, candidate: Planned, finetune: FinetuneConfig, steps: int
) -> float:
    """Select metric of a copy of ``candidate.model`` after ``steps`` steps of the recovery fine-tune."""
    recipe = dataclasses.replace(
        recovery_recipe(finetune, candidate.budget), steps=steps, patience=0, checkpoint_steps=0
    )  # fmt: skip
    model = copy.deepcopy(candidate.model)
    teacher = copy.deepcopy(unpruned).eval() if recipe.distill else None
    result = fit(model, data, recipe, teacher=teacher, description=f"probe {candidate.method}", task=task)
    return result.best_select_metric
