"""Iterative pruning: reach a MACs budget in k prune -> fine-tune steps instead of one shot.

Step i targets ``budget ** (i / k)`` of the unpruned MACs (a geometric path). Each step's plan comes from a
``planner(model, example, target_macs, importance) -> Plan`` made for the *current* (already pruned) model;
plans are composed into one plan in the unpruned numbering, so the result saves and reloads like any
pruned model. With ``gradient=True`` importance is first-order Taylor saliency accumulated during the
previous step's fine-tune (a scoring pass before the first step).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.atomic import write_json
from edgeprune.config import FinetuneConfig
from edgeprune.data import Data
from edgeprune.errors import EdgepruneError
from edgeprune.finetune.distributed import is_main_process
from edgeprune.finetune.loop import MODEL_DIR, fit
from edgeprune.finetune.taylor import TaylorTracker, scoring_pass
from edgeprune.paths import is_under
from edgeprune.planning.measure import pruned_copy
from edgeprune.planning.uniform import smallest_ratio_meeting
from edgeprune.prune import GroupKeep, Plan, apply_plan, count_macs_params, make_plan, save_pruned
from edgeprune.prune.importance import Scorer
from edgeprune.task import CLASSIFICATION, Task, evaluate

Planner = Callable[[nn.Module, torch.Tensor, int, "str | Scorer"], Plan]


def uniform_planner(round_to: int = 1, max_ratio: float = 0.9) -> Planner:
    """Planner: the least uniform ratio (bisection) whose plan brings the model to ``target_macs`` or below."""

    def plan_for(model: nn.Module, example: torch.Tensor, target_macs: int, importance: str | Scorer) -> Plan:
        plans: dict[float, Plan] = {}

        def prune_at(ratio: float) -> tuple[nn.Module, int]:
            plan = make_plan(model, example, ratio, importance=importance, round_to=round_to, max_ratio=max_ratio)
            pruned, macs, _ = pruned_copy(model, plan, example)
            plans[ratio] = plan
            return pruned, macs

        ratio, _, _ = smallest_ratio_meeting(prune_at, target_macs, max_ratio)
        return plans[ratio]

    return plan_for


def compose(first: Plan, second: Plan) -> Plan:
    """One plan equal to applying ``first`` and then ``second`` (made on the ``first``-pruned model)."""
    blocks = [*first.blocks, *(b for b in second.blocks if b not in first.blocks)]
    groups: list[GroupKeep] = []
    for g in first.groups:
        if is_under(g.root, blocks):
            continue
        later = second.group(g.root)
        if later is None:
            groups.append(GroupKeep(g.root, g.kind, g.width, list(g.keep)))
            continue
        if later.width != len(g.keep):
            raise EdgepruneError(
                f"compose: group '{g.root}' has width {later.width} in the second plan; the first keeps {len(g.keep)}"
            )
        groups.append(GroupKeep(g.root, g.kind, g.width, [g.keep[i] for i in later.keep]))
    known = {g.root for g in first.groups}
    groups += [GroupKeep(g.root, g.kind, g.width, list(g.keep)) for g in second.groups if g.root not in known]
    return Plan(
        input_shape=list(first.input_shape),
        groups=groups,
        blocks=blocks,
        attention=list(dict.fromkeys([*first.attention, *second.attention])),
        model=first.model if first.model is not None else second.model,
        round_to=second.round_to,
        importance=second.importance,
    )


@dataclass
class IterativeResult:
    """The pruned, fine-tuned model, its plan in the unpruned numbering, and one record per step."""

    model: nn.Module
    plan: Plan
    steps: list[dict[str, Any]] = field(default_factory=list)


def iterative_prune(
    model: nn.Module,
    data: Data,
    macs_fraction: float,
    steps: int,
    cfg: FinetuneConfig,
    *,
    planner: Planner | None = None,
    importance: str | Scorer = "magnitude",
    gradient: bool = False,
    teacher: nn.Module | None = None,
    spec: Any = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    task: Task = CLASSIFICATION,
) -> IterativeResult:
    """Prune a copy of ``model`` to ``macs_fraction`` of its MACs in ``steps`` prune -> fine-tune rounds.

    The teacher defaults to the unpruned model (used when ``cfg.distill``). ``run_dir`` gets one
    resumable fine-tune folder per step (``step-1`` ...), the final model and ``iterative.json``.
    """
    if not 0.0 < macs_fraction <= 1.0:
        raise EdgepruneError(f"iterative schedule: macs_fraction must be in (0, 1], got {macs_fraction}")
    if steps < 1:
        raise EdgepruneError(f"iterative schedule: steps must be >= 1, got {steps}")
    planner = planner or uniform_planner()
    example = data.example()
    current = copy.deepcopy(model).eval()
    teacher = teacher if teacher is not None else copy.deepcopy(model).eval()
    base_macs, _ = count_macs_params(current, example)
    tracker = TaylorTracker() if gradient else None
    if tracker is not None:
        scoring_pass(current, data, tracker, task)
    total = Plan(input_shape=list(example.shape), model=spec.to_dict() if spec is not None else None)
    records: list[dict[str, Any]] = []
    run = Path(run_dir) if run_dir is not None else None
    for i in range(1, steps + 1):
        target = int(base_macs * macs_fraction ** (i / steps))
        if tracker is not None:
            with tracker.installed(current) as scorer:
                plan = planner(current, example, target, scorer)
            tracker.reset()
        else:
            plan = planner(current, example, target, importance)
        current = apply_plan(current, plan, example)
        total = compose(total, plan)
        macs, params = count_macs_params(current, example)
        step_dir = run / f"step-{i}" if run is not None else None
        result = fit(
            current, data, cfg, teacher, f"step {i}/{steps}", run_dir=step_dir, resume=resume, plan=total,
            callback=tracker, device=device, task=task,
        )  # fmt: skip
        val_metric, _ = evaluate(current, data.val, task=task)
        records.append(
            {
                "step": i,
                "target_macs": target,
                "macs": macs,
                "macs_fraction": macs / base_macs,
                "params": params,
                "best_select_metric": result.best_select_metric,
                "val_metric": val_metric,
                "epochs": len(result.history),
            }
        )
    if run is not None and is_main_process():
        if total.model is not None:
            save_pruned(run / MODEL_DIR, current, total)
        write_json(run / "iterative.json", {"macs_fraction": macs_fraction, "gradient": gradient, "steps": records})
    return IterativeResult(current, total, records)
