"""plan_to_latency: plan to a latency budget measured on the target runtime, verify by measuring, refine.

1. Per-unit latency tables on the target (cached), the whole-network model fitted on the unpruned network and a
   few random plans measured end to end.
2. The allocator spends damage per millisecond saved (the sensitivity curves' damage, or magnitude damage when
   there is no scan) until the model predicts the budget.
3. The pruned network is exported as deployed and timed next to the unpruned one. If it misses the budget by more
   than the tolerance, the search target is corrected by the measured miss and the plan is made again (a step or
   two); the attempt closest to the budget is kept, and the record says whether it landed within tolerance.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion, get_importance
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.endtoend import export_for, kept_counts, pruned_copy, random_plan, time_files
from edgeprune.latency.model import KIND, Fit, LatencyModel, Sample
from edgeprune.latency.noscan import LABEL as NOSCAN
from edgeprune.latency.noscan import magnitude_sensitivity
from edgeprune.latency.table import TableStats, build_tables
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.planning.budget import BudgetPlan, allocate_to_budget
from edgeprune.planning.options import PlanOptions
from edgeprune.prune import Plan, count_macs_params
from edgeprune.sensitivity.result import Sensitivity


@dataclass(frozen=True)
class LatencyBudget:
    """A latency budget on the target: ``latency_ms`` (absolute) or ``speedup`` over the unpruned network.

    ``tolerance``: accepted relative miss of the measured latency; ``refine_steps``: re-plans after a miss."""

    latency_ms: float | None = None
    speedup: float | None = None
    tolerance: float = 0.05
    refine_steps: int = 3

    def __post_init__(self) -> None:
        if (self.latency_ms is None) == (self.speedup is None):
            raise EdgepruneError("latency budget: give exactly one of latency_ms or speedup")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise EdgepruneError(f"latency budget: latency_ms must be > 0, got {self.latency_ms}")
        if self.speedup is not None and not self.speedup >= 1.0:
            raise EdgepruneError(f"latency budget: speedup must be >= 1, got {self.speedup}")
        if not 0.0 < self.tolerance < 0.5 or self.refine_steps < 0:
            raise EdgepruneError("latency budget: tolerance must lie in (0, 0.5) and refine_steps be >= 0")

    def fraction(self, base_ms: float) -> float:
        """The budget as a fraction of the unpruned latency ``base_ms``."""
        return 1.0 / self.speedup if self.speedup is not None else self.latency_ms / base_ms  # type: ignore[operator]

    def describe(self) -> str:
        return f"{self.speedup:g}x speedup" if self.speedup is not None else f"{self.latency_ms:g} ms"

    def achieved(self, ms: float, fraction: float, goal: float) -> float:
        """Measured / budget: the fraction of the unpruned time against ``goal`` (speedup), or ms against
        ``latency_ms``; 1.0 is on the budget."""
        return fraction / goal if self.speedup is not None else ms / self.latency_ms  # type: ignore[operator]


@dataclass(frozen=True)
class Attempt:
    """One plan made and measured on the way to the budget."""

    search_fraction: float  # the predicted fraction the allocator was asked for
    predicted_fraction: float  # the model's fraction for the plan, before this measurement
    measured_ms: float
    measured_fraction: float  # median over processes of pruned / unpruned p50, timed together
    macs: int
    miss: float  # achieved / budget - 1 (speedup: on the measured fraction; latency_ms: on the measured ms)
    nudge: str | None = None  # a one-group width step from the closest plan ("root: 48 -> 40"), not an allocation


@dataclass
class LatencyPlanResult:
    """The chosen plan with budget, predicted and measured latency, and how it was reached."""

    plan: Plan
    model: nn.Module  # the pruned copy
    budget: LatencyBudget
    target_fraction: float
    base_ms: float  # unpruned, measured on the target
    predicted_ms: float  # the model's prediction for the chosen plan before it was measured (fraction x base_ms)
    measured_ms: float
    measured_fraction: float
    macs: int
    base_macs: int
    params: int
    base_params: int
    within_tolerance: bool
    damage: str  # where the accuracy price came from: "sensitivity scan" or the no-scan label
    attempts: list[Attempt] = field(default_factory=list)
    latency_model: LatencyModel | None = None
    tables: TableStats | None = None
    fit: Fit | None = None
    target: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)
    fit_samples: list[Sample] = field(default_factory=list)  # end-to-end points of the final fit

    @property
    def measured_speedup(self) -> float:
        return 1.0 / self.measured_fraction

    @property
    def predicted_speedup(self) -> float:
        return self.base_ms / self.predicted_ms if self.predicted_ms > 0 else math.inf

    @property
    def macs_reduction(self) -> float:
        return self.base_macs / max(self.macs, 1)

    def summary(self) -> dict[str, Any]:
        """Plain data for plan.json / report.json."""
        return {
            "budget": {
                "kind": KIND,
                "latency_ms": self.budget.latency_ms,
                "speedup": self.budget.speedup,
                "tolerance": self.budget.tolerance,
                "fraction": round(self.target_fraction, 6),
            },
            "target": self.target,
            "base_ms": round(self.base_ms, 4),
            "predicted_ms": round(self.predicted_ms, 4),
            "measured_ms": round(self.measured_ms, 4),
            "measured_fraction": round(self.measured_fraction, 4),
            "measured_speedup": round(self.measured_speedup, 4),
            "predicted_speedup": round(self.predicted_speedup, 4),
            "within_tolerance": self.within_tolerance,
            "macs": self.macs,
            "base_macs": self.base_macs,
            "macs_reduction": round(self.macs_reduction, 4),
            "params": self.params,
            "base_params": self.base_params,
            "damage": self.damage,
            "ratios": dict(self.ratios),
            "blocks": list(self.blocks),
            "attempts": [asdict(a) for a in self.attempts],
            "fit": asdict(self.fit) if self.fit else None,
            "fit_points": [
                {"ms": round(s.ms, 5), "predicted_ms": round(self.latency_model.predict_ms(s.counts, s.dropped), 5)}
                | ({"dropped": list(s.dropped)} if s.dropped else {})
                for s in self.fit_samples
                if self.latency_model is not None
            ],
            "tables": asdict(self.tables) if self.tables else None,
        }


def build_latency_model(
    model: nn.Module,
    example: torch.Tensor,
    target: LatencyTarget,
    round_to: int = 16,
    max_ratio: float = 0.9,
    ignored_layers: Iterable[str] = (),
    cache_dir: str | Path | None = None,
    time_budget_s: float | None = 900.0,
    levels: int = 1,
    fit_plans: int = 3,
    seed: int = 0,
    *,
    workdir: str | Path,
    blocks: Sequence[str] = (),
) -> tuple[LatencyModel, float, dict[str, Path], list[Sample]]:
    """Tables + fit: (fitted model, measured unpruned ms, the files exported into ``workdir`` by name with
    ``unpruned`` among them, the end-to-end samples of the fit). Random fit plans drop one of ``blocks`` now and
    then."""
    groups = prunable_groups(model, example, ignored_layers)
    units = find_units(model, example, groups)
    cache = LatencyCache(cache_dir, target.fingerprint(), target.fingerprint_key())
    tables = build_tables(model, units, target, round_to, max_ratio, cache, time_budget_s, levels)
    raw = LatencyModel(tables, groups)
    rng = random.Random(seed)
    plans = {
        f"random{i}": random_plan(model, example, groups, rng, round_to, max_ratio, blocks=blocks)
        for i in range(fit_plans)
    }
    folder = Path(workdir)
    paths = {"unpruned": export_for(target, model, example, folder / f"unpruned.{target.fmt}")}
    for name, plan in plans.items():
        paths[name] = export_for(target, pruned_copy(model, plan, example), example, folder / f"{name}.{target.fmt}")
    timed = time_files(target, paths, "unpruned")
    fit_samples = [Sample({g.root: g.width for g in groups}, (), timed["unpruned"].ms)]
    # a random plan's own ms comes from other processes than the unpruned one: express it through its ratio
    fit_samples += [
        Sample(kept_counts(p, groups), tuple(p.blocks), timed[n].ratio * timed["unpruned"].ms) for n, p in plans.items()
    ]
    return raw.fitted(fit_samples), timed["unpruned"].ms, paths, fit_samples


def plan_to_latency(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity | None,
    budget: LatencyBudget,
    target: LatencyTarget,
    *,
    importance: str | Criterion = "l2",
    samples: tuple[torch.Tensor, torch.Tensor] | None = None,
    objective: str = "metric",
    round_to: int = 16,
    max_ratio: float = 0.9,
    ignored_layers: Iterable[str] = (),
    use_blocks: bool = True,
    spec: Any = None,
    cache_dir: str | Path | None = None,
    time_budget_s: float | None = 900.0,
    levels: int = 1,
    fit_plans: int = 3,
    seed: int = 0,
    workdir: str | Path | None = None,
) -> LatencyPlanResult:
    """The least-damage plan whose measured latency on ``target`` meets ``budget`` (``model`` is untouched).

    ``sens``: a sensitivity scan of ``model`` (damage per ms saved comes from its curves), or None for the
    no-scan mode (magnitude damage, no blocks). ``samples``: choosing samples for data-driven ``importance``.
    """
    ignored_layers = list(ignored_layers)
    with tempfile.TemporaryDirectory(prefix="edgeprune-latency-", dir=workdir) as tmp:
        blocks = [b.path for b in sens.blocks] if sens is not None and use_blocks else []
        lm, base_ms, paths, fit_samples = build_latency_model(
            model, example, target, round_to, max_ratio, ignored_layers, cache_dir, time_budget_s, levels,
            fit_plans, seed, workdir=tmp, blocks=blocks,
        )  # fmt: skip
        damage, curves = "sensitivity scan", sens
        if curves is None:
            curves = magnitude_sensitivity(model, example, "l2", round_to, ignored_layers)
            objective, use_blocks, damage = "estimate", False, NOSCAN
        criterion = importance
        if isinstance(criterion, str):
            x, y = samples if samples is not None else (None, None)
            criterion = get_importance(criterion, model, x, y)
        goal = budget.fraction(base_ms)
        if not 0.0 < goal <= 1.0:
            raise EdgepruneError(
                f"latency budget {budget.describe()} asks for {goal:.3f}x of the unpruned {base_ms:.3f} ms; "
                "it must be a fraction in (0, 1]"
            )

        state = {"lm": lm}

        plan_at = allocator(
            model, example, curves, objective, criterion, lambda: state["lm"], round_to=round_to,
            max_ratio=max_ratio, ignored_layers=ignored_layers, use_blocks=use_blocks, spec=spec,
        )  # fmt: skip

        def measure(planned: BudgetPlan) -> tuple[float, float]:
            name = f"attempt{len(paths)}"
            paths[name] = export_for(target, planned.model, example, Path(tmp) / f"{name}.{target.fmt}")
            timed = time_files(target, {"unpruned": paths["unpruned"], name: paths[name]}, "unpruned")[name]
            # the measured plan joins the fit: it lies where the budget is, where accuracy matters most
            counts = state["lm"].plan_counts(planned.plan)
            fit_samples.append(Sample(counts, tuple(planned.plan.blocks), timed.ratio * base_ms))
            state["lm"] = state["lm"].fitted(fit_samples)
            return timed.ms, timed.ratio

        def predicted_fraction(planned: BudgetPlan) -> float:
            return state["lm"].plan_ms(planned.plan) / state["lm"].full_ms

        attempts, made = refine(plan_at, measure, predicted_fraction, budget, goal)
        lm = state["lm"]
    best = closest(attempts, budget.tolerance)
    chosen, att = made[best], attempts[best]
    base_macs, base_params = count_macs_params(model, example)
    _, params = count_macs_params(chosen.model, example)
    return LatencyPlanResult(
        plan=chosen.plan,
        model=chosen.model,
        budget=budget,
        target_fraction=goal,
        base_ms=base_ms,
        predicted_ms=att.predicted_fraction * base_ms,
        measured_ms=att.measured_ms,
        measured_fraction=att.measured_fraction,
        macs=chosen.macs,
        base_macs=base_macs,
        params=params,
        base_params=base_params,
        within_tolerance=abs(att.miss) <= budget.tolerance,
        damage=damage,
        attempts=attempts,
        latency_model=lm,
        tables=lm.tables.stats,
        fit=lm.fit_info,
        target=target.fingerprint(),
        ratios=dict(chosen.allocation.ratios),
        blocks=list(chosen.allocation.blocks),
        fit_samples=list(fit_samples),
    )


def refine(
    plan_at: Callable[[float], BudgetPlan],
    measure: Callable[[BudgetPlan], tuple[float, float]],
    predicted_fraction: Callable[[BudgetPlan], float],
    budget: LatencyBudget,
    goal: float,
    replans: int = 6,
) -> tuple[list[Attempt], list[BudgetPlan]]:
    """Plan at ``goal``, measure, and re-plan until the measured miss is within tolerance or ``budget.refine_steps``
    re-plans are measured.

    ``measure`` returns (ms, fraction of the unpruned latency timed with it) and may refit the model;
    ``predicted_fraction`` is the model's fraction for a plan. The attempt records the prediction made before the
    measurement; the next search target is corrected by the (refitted) model's residual on the measured plan:
    ``predicted / achieved`` (``achieved``: measured / budget). With coarse widths that target can give back a
    plan already measured; then the search bisects between the targets known to give too fast and too slow plans
    (up to ``replans`` plannings per step, which cost no measurement)."""
    search = goal
    attempts: list[Attempt] = []
    made: list[BudgetPlan] = []
    seen: dict[str, int] = {}
    for _ in range(budget.refine_steps + 1):
        planned = plan_at(search)
        for _ in range(replans):
            key = json.dumps(planned.plan.to_dict(), sort_keys=True)
            if key not in seen:
                break
            search = _bisect(attempts, search, attempts[seen[key]].miss)
            planned = plan_at(search)
        else:
            break  # no new plan between the bracketing targets: the closest attempt stands
        seen[json.dumps(planned.plan.to_dict(), sort_keys=True)] = len(attempts)
        before = predicted_fraction(planned)
        ms, fraction = measure(planned)
        achieved = budget.achieved(ms, fraction, goal)
        attempts.append(Attempt(search, before, ms, fraction, planned.macs, achieved - 1.0))
        made.append(planned)
        if abs(achieved - 1.0) <= budget.tolerance:
            break
        search = _bracketed(attempts) or min(max(predicted_fraction(planned) / achieved, 0.02), 1.0)
    return attempts, made


def _bracketed(attempts: list[Attempt]) -> float | None:
    """Once measured plans lie on both sides of the budget, the next search target interpolates linearly between
    the nearest too-fast and too-slow ones (regula falsi on measured misses): the model's own correction can jump
    back and forth across the budget on small models, where one width step moves latency by 10-20%."""
    fast = [a for a in attempts if a.miss < 0]
    slow = [a for a in attempts if a.miss > 0]
    if not fast or not slow:
        return None
    f, s = max(fast, key=lambda a: a.miss), min(slow, key=lambda a: a.miss)
    if s.search_fraction <= f.search_fraction:
        return None  # measured misses disagree with the search order (noise): the model's step decides
    share = -f.miss / (s.miss - f.miss)
    return f.search_fraction + share * (s.search_fraction - f.search_fraction)


def _bisect(attempts: list[Attempt], search: float, miss: float) -> float:
    """A search target between the largest one known to give a too-fast plan and the smallest known to give a
    too-slow one; ``search`` (which gave a plan missing by ``miss``) joins its side."""
    fast = [a.search_fraction for a in attempts if a.miss < 0] + ([search] if miss < 0 else [])
    slow = [a.search_fraction for a in attempts if a.miss > 0] + ([search] if miss > 0 else [])
    if fast and slow:
        return (max(fast) + min(slow)) / 2
    return min(search * (1.04 if miss < 0 else 0.96), 1.0)


def _rank(attempt: Attempt, tolerance: float) -> tuple[int, float]:
    """Within tolerance first, then a miss on the fast side (budget kept), then the smallest miss."""
    inside = abs(attempt.miss) <= tolerance
    return (0 if inside else 1 if attempt.miss < 0 else 2, abs(attempt.miss))


def closest(attempts: list[Attempt], tolerance: float) -> int:
    """The index of the attempt to keep (the best by :func:`_rank`)."""
    return min(range(len(attempts)), key=lambda i: _rank(attempts[i], tolerance))


def allocator(
    model: nn.Module,
    example: torch.Tensor,
    curves: Sensitivity,
    objective: str,
    criterion: Any,
    cost: Callable[[], Any],
    *,
    round_to: int,
    max_ratio: float,
    ignored_layers: Iterable[str],
    use_blocks: bool,
    spec: dict | None,
) -> Callable[[float], BudgetPlan]:
    """``plan_at(search)``: the shared allocator at a search fraction, priced by the current ``cost()`` (a cost
    model that a measurement may refit or correct between calls)."""

    def plan_at(search: float) -> BudgetPlan:
        current = cost()
        opts = PlanOptions(
            budget=search, kind=KIND, round_to=round_to, max_ratio=max_ratio,
            ignored_layers=tuple(ignored_layers), use_blocks=use_blocks,
        )  # fmt: skip
        return allocate_to_budget(
            model, example, curves, opts, objective, criterion, cost=current, exact=current.exact, spec=spec
        )

    return plan_at
