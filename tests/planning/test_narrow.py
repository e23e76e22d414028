"""round_to on narrow models (issue 24, item 6): where round_to's widths cannot reach [0.95, 1.0] of the budget,
narrow groups fall back to finer steps, recorded per group; widths stay multiples of round_to where they can.

Before the fallback, uniform planning at round_to 16 reached 0.377x MACs for a 0.5x budget on the 32/64-wide model
and 0.449x on the 24/48-wide one (the 16/32-wide one could not be planned at all)."""

from __future__ import annotations

import pytest
import torch
from planning_models import narrow_16_32, narrow_24_48, narrow_32_64

from edgeprune.planning import FILL, PlanOptions, rounding_notes, uniform_to_budget
from edgeprune.prune import Plan

X = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def _planned(factory, budget: float = 0.5, round_to: int = 16):
    torch.manual_seed(0)
    return uniform_to_budget(factory().eval(), X, PlanOptions(budget=budget, round_to=round_to), "magnitude")


@pytest.mark.parametrize("factory", [narrow_32_64, narrow_24_48, narrow_16_32], ids=lambda f: f.__name__)
def test_narrow_models_reach_the_budget(factory) -> None:
    planned = _planned(factory)
    assert FILL * 0.5 <= planned.fraction <= 0.5, planned.fraction
    finer = planned.plan.finer
    assert finer, "the budget needed finer steps here"
    for group in planned.plan.groups:
        step = group.round_to or 16
        assert len(group.keep) % step == 0, (group.root, len(group.keep), step)
        if group.round_to is not None:  # recorded only where round_to itself could not give this width
            assert group.round_to < 16 and len(group.keep) % 16 != 0
    assert planned.details["finer"] == finer and "blocked_by" not in planned.details
    (note,) = rounding_notes(planned, 16)
    assert "round_to 16 could not reach 0.95" in note and all(root in note for root in finer)


def test_finer_steps_round_trip_through_plan_json(tmp_path) -> None:
    planned = _planned(narrow_32_64)
    planned.plan.save(tmp_path / "plan.json")
    again = Plan.load(tmp_path / "plan.json")
    assert again.finer == planned.plan.finer and again.to_dict() == planned.plan.to_dict()


def test_round_to_kept_where_the_budget_allows() -> None:
    """A budget the coarse widths reach keeps every width a multiple of round_to (no finer step recorded)."""
    planned = _planned(narrow_32_64, budget=0.39)  # 16 and 48 wide: 0.377x
    assert FILL * 0.39 <= planned.fraction <= 0.39
    assert planned.plan.finer == {} and all(len(g.keep) % 16 == 0 for g in planned.plan.groups)
    assert rounding_notes(planned, 16) == []
