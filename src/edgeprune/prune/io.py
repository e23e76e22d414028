"""Save a pruned model as plan + safetensors weights; load it by replaying the plan (no pickle, no import).

A plan is data: the architecture it is replayed on comes from a built-in registry (``edgeprune:``,
``torchvision:``, ``timm:``) or from the spec the *user* passes (``spec=``, the ``--model`` flag). A plan naming a
user module is refused unless the user passes that same spec, so opening someone else's plan never runs code.
"""

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
MAX_INPUT_ELEMENTS = 1 << 28


def save_pruned(directory: str | Path, model: nn.Module, plan: Plan) -> Path:
    """Write ``plan.json`` and ``weights.safetensors`` into ``directory`` (each atomically)."""
    if plan.model is None:
        raise EdgepruneError("save_pruned: the plan has no 'model' spec; pass spec=ModelSpec(...) to make_plan")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(model, directory / WEIGHTS_FILE)
    plan.save(directory / PLAN_FILE)
    return directory


def plan_file(source: str | Path) -> Path:
    """``DIR`` (a saved pruned model) or ``DIR/plan.json`` -> the plan file."""
    path = Path(source)
    return path / PLAN_FILE if path.is_dir() else path


def trusted_spec(plan: Plan, where: str | Path, spec: str | None = None) -> ModelSpec:
    """The architecture to replay ``plan`` on: built-in specs as recorded; any other only when the user's ``spec``
    names it too (never imported because a file says so)."""
    if not plan.model:
        if spec is None:
            raise EdgepruneError(f"{where}: field 'model' is empty; pass the model spec (--model) to rebuild it")
        return ModelSpec(spec)
    try:
        recorded = ModelSpec.from_dict(plan.model)
    except EdgepruneError as exc:
        raise EdgepruneError(f"{where}: field 'model': {exc}") from None
    if spec is not None and spec != recorded.spec:
        raise EdgepruneError(f"{where}: field 'model.spec' is '{recorded.spec}', but the model given is '{spec}'")
    if not recorded.builtin and spec is None:
        raise EdgepruneError(
            f"{where}: field 'model.spec' names user code '{recorded.spec}'; edgeprune imports user code only when you"
            f" name it yourself: pass --model {recorded.spec} (spec='{recorded.spec}') if you trust it"
        )
    return recorded


def example_input(plan: Plan, where: str | Path) -> torch.Tensor:
    shape = plan.input_shape
    if not shape or any(d < 1 for d in shape) or torch.Size(shape).numel() > MAX_INPUT_ELEMENTS:
        raise EdgepruneError(f"{where}: field 'input_shape' {shape} must be positive sizes of a reasonable input")
    return torch.zeros(shape)


def replay(model: nn.Module, plan: Plan, where: str | Path) -> nn.Module:
    """:func:`apply_plan` on ``model``; a plan that does not fit it is an error naming the plan file."""
    try:
        return apply_plan(model, plan, example_input(plan, where))
    except EdgepruneError as exc:
        if str(where) in str(exc):
            raise
        raise EdgepruneError(f"{where}: {exc}") from None


def load_pruned(directory: str | Path, spec: str | None = None) -> tuple[nn.Module, Plan]:
    """Rebuild the unpruned architecture (see :func:`trusted_spec`), replay the plan, load the weights."""
    directory = Path(directory)
    where = directory / PLAN_FILE
    plan = Plan.load(where)
    model = build_model(trusted_spec(plan, where, spec))
    replay(model, plan, where)
    load_checkpoint(model, directory / WEIGHTS_FILE)
    return model.eval(), plan
