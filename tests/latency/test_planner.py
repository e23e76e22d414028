"""The latency planner: budgets, the measure-and-refine loop (fake measurements where the runtime is not the
point), no-scan damage, and one real end-to-end run on ONNX Runtime."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from edgeprune.atomic import json_text
from edgeprune.errors import EdgepruneError
from edgeprune.latency.noscan import magnitude_sensitivity, removed_mass
from edgeprune.latency.planner import Attempt, LatencyBudget, _rank, plan_to_latency, refine
from edgeprune.latency.target import LatencyTarget
from edgeprune.prune.schema import PLANNING


def test_budget_is_one_of_latency_or_speedup() -> None:
    assert LatencyBudget(speedup=2.0).fraction(10.0) == 0.5
    assert LatencyBudget(latency_ms=4.0).fraction(10.0) == pytest.approx(0.4)
    for bad in ({}, {"speedup": 2.0, "latency_ms": 3.0}, {"speedup": 0.5}, {"latency_ms": -1.0}):
        with pytest.raises(EdgepruneError, match="latency budget"):
            LatencyBudget(**bad)


@dataclass
class FakePlanData:
    key: float

    def to_dict(self) -> dict[str, float]:
        return {"key": self.key}


@dataclass
class FakePlan:
    """What ``refine`` reads from a plan: its MACs and its plan (here: the search target it was made for)."""

    macs: int
    search: float

    @property
    def plan(self) -> FakePlanData:
        return FakePlanData(self.search)


def run_refine(bias: float, budget: LatencyBudget, base_ms: float = 10.0):
    """A model that is ``bias`` too optimistic: a plan predicted at fraction f measures f * bias."""

    def plan_at(search: float) -> FakePlan:
        return FakePlan(int(search * 1e6), search)

    def measure(plan: FakePlan) -> tuple[float, float]:
        fraction = plan.search * bias
        return fraction * base_ms, fraction

    return refine(plan_at, measure, lambda p: p.search, budget, budget.fraction(base_ms))


@pytest.mark.parametrize("bias", [1.0, 1.25, 0.8])
def test_refinement_corrects_a_biased_model_within_tolerance(bias: float) -> None:
    attempts, made = run_refine(bias, LatencyBudget(speedup=2.0, tolerance=0.05, refine_steps=2))
    assert len(attempts) == (1 if bias == 1.0 else 2) and len(made) == len(attempts)
    assert abs(attempts[-1].miss) <= 0.05
    assert attempts[-1].measured_fraction == pytest.approx(0.5)
    if bias != 1.0:
        assert attempts[1].search_fraction == pytest.approx(0.5 / bias)


def test_refinement_bisects_when_coarse_plans_repeat() -> None:
    """Three plans exist; the model mispredicts two of them. The corrected target gives back a plan already
    measured, so the search bisects between the too-fast and too-slow targets and finds the third."""
    predicted = {0.40: 0.40, 0.50: 0.47, 0.62: 0.50}  # plan (its measured fraction) -> model's fraction

    def plan_at(search: float) -> FakePlan:
        q = max((q for q, p in predicted.items() if p <= search), key=lambda q: predicted[q], default=0.40)
        return FakePlan(int(q * 1e6), q)

    plans_made = []

    def measure(plan: FakePlan) -> tuple[float, float]:
        plans_made.append(plan.search)
        return plan.search * 10.0, plan.search

    budget = LatencyBudget(speedup=2.0, tolerance=0.05, refine_steps=2)
    attempts, made = refine(plan_at, measure, lambda p: predicted[p.search], budget, 0.5)
    assert plans_made == [0.62, 0.40, 0.50]  # each measured once
    assert attempts[-1].miss == pytest.approx(0.0) and made[-1].search == 0.50
    assert attempts[0].predicted_fraction == 0.50 and attempts[0].miss == pytest.approx(0.24)


def test_refinement_stops_after_its_steps_and_ranks_attempts() -> None:
    attempts, _ = run_refine(1.25, LatencyBudget(latency_ms=5.0, tolerance=0.05, refine_steps=0))
    assert len(attempts) == 1 and attempts[0].miss == pytest.approx(0.25)
    slow = Attempt(0.5, 0.5, 6, 0.6, 1, 0.2)
    fast = Attempt(0.5, 0.5, 4, 0.4, 1, -0.2)
    near = Attempt(0.5, 0.5, 5.1, 0.51, 1, 0.02)
    nearer = Attempt(0.5, 0.5, 4.95, 0.495, 1, -0.01)
    order = sorted([slow, fast, near, nearer], key=lambda a: _rank(a, 0.05))
    assert order == [nearer, near, fast, slow]  # within tolerance, then budget kept, then the rest


def test_noscan_damage_grows_with_removed_magnitude(edgenet) -> None:
    x = torch.randn(1, 1, 28, 28)
    sens = magnitude_sensitivity(edgenet, x, round_to=8)
    assert sens.groups and not sens.blocks and sens.metric_name.startswith("magnitude")
    for g in sens.groups:
        estimates = [p.estimate for p in g.points]
        assert estimates == sorted(estimates) and estimates[0] >= 0.0 and estimates[-1] <= 1.0
        assert all(p.keep % 8 == 0 or p.keep * g.channel_groups == g.width for p in g.points)
    scores = torch.tensor([4.0, 3.0, 2.0, 1.0])
    assert removed_mass(scores, 4, 1, 2) == pytest.approx(0.3)  # drops 2 + 1 of 10
    assert removed_mass(scores, 4, 1, 4) == 0.0


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    ).eval()


@pytest.mark.slow
def test_plan_to_latency_end_to_end_on_onnxruntime(tmp_path) -> None:
    """Tables, fit, plan, export, measure: the record is complete and consistent (speed is not asserted here)."""
    net, x = conv_net(), torch.randn(1, 3, 32, 32)
    target = LatencyTarget("onnxruntime", warmup=3, runs=20, repeats=2)
    budget = LatencyBudget(speedup=1.6, tolerance=0.1, refine_steps=1)
    result = plan_to_latency(net, x, None, budget, target, round_to=16, levels=0, fit_plans=2, cache_dir=tmp_path)
    assert result.damage.startswith("magnitude") and result.base_ms > 0
    assert 1 <= len(result.attempts) <= 2 and result.macs < result.base_macs
    assert result.measured_ms > 0 and result.predicted_ms > 0 and 0 < result.measured_fraction < 1.2
    assert result.within_tolerance == (abs(min(result.attempts, key=lambda a: abs(a.miss)).miss) <= 0.1)
    assert result.model(x).shape == (1, 10) and result.plan.groups
    assert all(len(g.keep) % 16 == 0 for g in result.plan.groups)
    summary = result.summary()
    assert summary["budget"]["speedup"] == 1.6 and summary["target"]["runtime"] == "onnxruntime"
    PLANNING.fields["latency"].check(json.loads(json_text(summary)), "planning.latency")  # plan.json's schema
    # fitted on the unpruned network, the 2 random plans, and every measured attempt
    assert summary["tables"]["micro_models"] > 0 and summary["fit"]["points"] == 3 + len(result.attempts)
    again = plan_to_latency(net, x, None, budget, target, round_to=16, levels=0, fit_plans=2, cache_dir=tmp_path)
    assert again.tables.measured == 0  # every micro-model came from the cache
    assert list(itertools.chain(result.ratios)) and net[0].out_channels == 64  # the input model is untouched


def test_random_plans_are_seeded_rounded_and_may_drop_a_block(edgenet) -> None:
    import random

    from edgeprune.latency.endtoend import kept_counts, pruned_copy, random_plan
    from edgeprune.latency.units import prunable_groups

    x = torch.randn(1, 1, 28, 28)
    groups = prunable_groups(edgenet, x)
    blocks = ["block1", "block2", "block3"]
    a = random_plan(edgenet, x, groups, random.Random(3), 8, 0.9, blocks=blocks, block_chance=1.0)
    b = random_plan(edgenet, x, groups, random.Random(3), 8, 0.9, blocks=blocks, block_chance=1.0)
    assert a.to_dict() == b.to_dict() and len(a.blocks) == 1 and a.blocks[0] in blocks
    counts = kept_counts(a, groups)
    assert all(c % 8 == 0 or c == g.width for g, c in zip(groups, counts.values(), strict=True))
    assert pruned_copy(edgenet, a, x)(x).shape == (1, 10)


def test_refinement_interpolates_once_the_budget_is_bracketed() -> None:
    """A model whose correction overshoots (measured = 1.6 * search^1.5 around the budget): after one plan on
    each side, the next target interpolates between them instead of jumping back across."""

    def plan_at(search: float) -> FakePlan:
        return FakePlan(int(search * 1e6), round(search, 6))

    def measure(plan: FakePlan) -> tuple[float, float]:
        fraction = 1.6 * plan.search**1.5
        return fraction * 10.0, fraction

    budget = LatencyBudget(speedup=2.0, tolerance=0.05, refine_steps=3)
    attempts, _ = refine(plan_at, measure, lambda p: p.search * 0.6, budget, 0.5)
    misses = [a.miss for a in attempts]
    assert misses[0] > 0.05 and misses[1] < -0.05  # one on each side of the budget
    fast, slow = sorted(attempts[:2], key=lambda a: a.miss)
    assert fast.search_fraction < attempts[2].search_fraction < slow.search_fraction  # inside the bracket
    assert abs(attempts[-1].miss) <= 0.05
