"""Save a pruned model as plan + safetensors weights; load it by replaying the plan (no pickle)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec, build_model, load_checkpoint, save_weights
from edgeprune.prune.apply import apply_plan
from edgeprune.prune.plan import Plan

PLAN_FILE = "plan.json"
WEIGHTS_FILE = "weights.safetensors"


def save_pruned(directory: str | Path, model: nn.Module, plan: Plan) -> Path:
    """Write ``plan.json`` and ``weights.safetensors`` into ``directory`` (each atomically)."""
    if plan.model is None:
        raise EdgepruneError("save_pruned: the plan has no 'model' spec; pass spec=ModelSpec(...) to make_plan")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(model, directory / WEIGHTS_FILE)
    plan.save(directory / PLAN_FILE)
    return directory


def load_pruned(directory: str | Path) -> tuple[nn.Module, Plan]:
    """Rebuild the unpruned architecture from the plan's spec, replay the plan, load the weights."""
    directory = Path(directory)
    plan = Plan.load(directory / PLAN_FILE)
    if not plan.model:
        raise EdgepruneError(f"{directory / PLAN_FILE}: field 'model' is empty; cannot rebuild the architecture")
    model = build_model(ModelSpec.from_dict(plan.model))
    apply_plan(model, plan, torch.zeros(plan.input_shape))
    load_checkpoint(model, directory / WEIGHTS_FILE)
    return model.eval(), plan
