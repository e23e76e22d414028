"""The whole-network latency model: a PlanningCost the allocator budgets like MACs; fitted terms; block drops.

The tables here are synthetic (latency = a known function of the widths): what is tested is the model's
arithmetic, not a runtime.
"""

from __future__ import annotations

import random

import pytest
import torch

from edgeprune.latency.model import LatencyModel, Sample
from edgeprune.latency.table import LatencyTables, TableStats, UnitTable, candidate_counts
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.planning.allocate import allocate
from edgeprune.planning.budget import allocate_to_budget
from edgeprune.planning.costmodel import PlanningCost
from edgeprune.planning.options import PlanOptions
from edgeprune.prune import count_macs_params


def synthetic_tables(units, per_unit_ms=lambda u, cin, cout: 1e-6 * u.macs * cin * cout / 100):
    """Every unit measured at every candidate width, latency = ``per_unit_ms(unit, cin, cout)``."""
    tables = {}
    for u in units:
        kin_axis, kout_axis = u.axes
        xs = candidate_counts(kin_axis, 1, 0.9) if kin_axis else [None]
        ys = candidate_counts(kout_axis, 1, 0.9) if kout_axis else [None]
        values = {(x, y): per_unit_ms(u, *u.channels(x, y)) + 0.01 for x in xs for y in ys}
        tables[u.name] = UnitTable(u, xs, ys, values)
    return LatencyTables(
        list(units), tables, {"runtime": "synthetic"}, 1, 0.9, TableStats(), null_ms=0.01, io=(0.005, 1e-7)
    )


@pytest.fixture()
def setup(edgenet):
    x = torch.randn(1, 1, 28, 28)
    groups = prunable_groups(edgenet, x)
    units = find_units(edgenet, x, groups)
    return edgenet, x, groups, LatencyModel(synthetic_tables(units), groups)


def test_is_a_planning_cost_and_monotone(setup) -> None:
    _, _, groups, lm = setup
    assert isinstance(lm, PlanningCost)
    assert lm.fraction({}, []) == pytest.approx(1.0)
    for g in groups:
        fractions = [lm.fraction({g.root: f}, []) for f in (1.0, 0.75, 0.5, 0.25)]
        assert fractions == sorted(fractions, reverse=True), g.root
        assert fractions[-1] < 1.0
    assert lm.fraction({}, ["block1"]) < 1.0 and lm.fraction({}, ["block1", "block3"]) < lm.fraction({}, ["block1"])


def test_incremental_sum_equals_a_full_recount(setup) -> None:
    _, _, groups, lm = setup
    rng = random.Random(0)
    for _ in range(60):
        counts = {g.root: rng.choice([g.width, g.width // 2, g.width // 4 or 1]) for g in rng.sample(groups, 3)}
        dropped = rng.choice([(), ("block1",), ("block2", "block3")])
        incremental = lm.raw_ms(counts, dropped)
        lm._last = None
        assert incremental == pytest.approx(lm.raw_ms(counts, dropped), rel=1e-12)
        assert incremental == pytest.approx(sum(lm.unit_breakdown(counts, dropped).values()), rel=1e-12)


def test_fit_recovers_scale_and_overhead(setup) -> None:
    _, _, groups, lm = setup
    rng = random.Random(1)
    samples = []
    for _ in range(5):
        counts = {g.root: rng.choice([g.width, g.width // 2]) for g in groups}
        samples.append(Sample(counts, (), 1.3 * lm.raw_ms(counts) + 0.02))
    fitted = lm.fitted(samples)
    assert fitted.scale == pytest.approx(1.3) and fitted.overhead_ms == pytest.approx(0.02)
    assert fitted.fit_info.residual_p50 == pytest.approx(0.0, abs=1e-9)
    one = lm.fitted(samples[:1])  # a single point: proportional
    assert one.overhead_ms == 0.0 and one.predict_ms(samples[0].counts) == pytest.approx(samples[0].ms)


def test_fit_adds_a_weights_term_when_weights_cost_beyond_the_tables(setup) -> None:
    """Inside a network a layer's weights come back from memory every inference; micro-models run hot. When the
    end-to-end points carry a cost per weight kept that the tables lack, the fit finds it (given enough points);
    with four points it fits two terms only."""
    _, _, groups, lm = setup
    rng = random.Random(2)
    assert lm.raw_params({}) == sum(u.params for u in lm.units if u.params)
    samples = []
    for _ in range(7):
        counts = {g.root: rng.choice([g.width, g.width // 2, g.width // 4 or 1]) for g in groups}
        samples.append(Sample(counts, (), 1.1 * lm.raw_ms(counts) + 2e-6 * lm.raw_params(counts) + 0.03))
    fitted = lm.fitted(samples)
    assert fitted.per_param_ms == pytest.approx(2e-6, rel=1e-6) and fitted.scale == pytest.approx(1.1)
    assert fitted.fit_info.ms_per_mparam == pytest.approx(2.0, rel=1e-6)
    assert fitted.predict_ms(samples[0].counts) == pytest.approx(samples[0].ms)
    assert lm.fitted(samples[:4]).per_param_ms == 0.0


def test_unit_weights_follow_the_kept_channels(setup) -> None:
    _, _, _, lm = setup
    conv = next(u for u in lm.units if u.params and u.in_axis is not None and u.out_axis is not None and not u.tied)
    kin, kout = conv.in_axis.width // 2, conv.out_axis.width // 2
    assert conv.params_at(None, None) == conv.params
    assert conv.params_at(kin, kout) == pytest.approx(conv.params / 4)


def test_allocator_spends_the_latency_budget(setup) -> None:
    from edgeprune.latency.noscan import magnitude_sensitivity

    net, x, _, lm = setup
    sens = magnitude_sensitivity(net, x)
    alloc = allocate(sens, lm, 0.6, kind="latency", objective="estimate", use_blocks=False)
    assert alloc.predicted_fraction <= 0.6 + 1e-9 and alloc.ratios
    opts = PlanOptions(budget=0.6, kind="latency")
    planned = allocate_to_budget(net, x, sens, opts, "estimate", "magnitude", cost=lm, exact=lm.exact)
    assert planned.fraction <= 0.6 + 1e-9 and planned.fraction == pytest.approx(lm.plan_ms(planned.plan) / lm.full_ms)
    assert planned.summary()["budget"]["kind"] == "latency"
    macs, _ = count_macs_params(planned.model, x)
    assert macs == planned.macs and planned.model(x).shape == (1, 10)


def test_latency_planning_cuts_where_latency_is_not_where_macs_are(setup) -> None:
    """A unit that costs latency out of proportion to its MACs (here: the stem at 50x) draws the cuts."""
    from edgeprune.latency.noscan import magnitude_sensitivity

    net, x, groups, _ = setup
    units = find_units(net, x, groups)

    def skewed(u, cin, cout):
        return (50.0 if u.name == "stem.0" else 1.0) * 1e-6 * u.macs * (cin * cout) / (u.in_shape[1] * u.out_shape[1])

    lm = LatencyModel(synthetic_tables(units, skewed), groups)
    sens = magnitude_sensitivity(net, x)
    by_latency = allocate(sens, lm, 0.7, kind="latency", objective="estimate", use_blocks=False)
    assert max(by_latency.ratios, key=by_latency.ratios.get) == "stem.0"


class LinearCost:
    """A fake PlanningCost: each group's cut saves ``share * (1 - kept)`` of the total (no runtime involved)."""

    def __init__(self, shares: dict[str, float]) -> None:
        self.shares = shares
        self.calls = 0

    def fraction(self, kept, dropped, kind: str) -> float:
        self.calls += 1
        return 1.0 - sum(s * (1.0 - kept.get(r, 1.0)) for r, s in self.shares.items())


def test_allocator_takes_back_cuts_the_budget_does_not_need() -> None:
    """round_to 16 makes steps coarse: a late greedy move can make earlier cuts unnecessary. No single cut may be
    undone afterwards without breaking the budget (else the allocator left accuracy on the table)."""
    from edgeprune.latency.noscan import magnitude_sensitivity
    from edgeprune.models.edgenet import EdgeNet
    from edgeprune.planning.allocate import group_options

    torch.manual_seed(0)
    net, x = EdgeNet(num_classes=10, in_channels=1, width=16).eval(), torch.randn(1, 1, 28, 28)
    sens = magnitude_sensitivity(net, x, round_to=16)
    others = (1.0 - 0.3) / (len(sens.groups) - 1)
    cost = LinearCost({g.root: 0.3 if g.root == "down1.0" else others for g in sens.groups})
    for budget in (0.9, 0.7):
        alloc = allocate(sens, cost, budget, kind="latency", objective="estimate", round_to=16, use_blocks=False)
        assert alloc.predicted_fraction <= budget + 1e-9
        options = {g.root: group_options(g, sens.base, "estimate", 0.9, 16) for g in sens.groups}
        kept = {
            r: next((o.kept_fraction for o in opts if o.ratio == alloc.ratios.get(r)), 1.0)
            for r, opts in options.items()
        }
        for root, opts in options.items():
            shallower = [o.kept_fraction for o in opts if o.kept_fraction > kept[root]]
            if shallower:  # one depth back up must break the budget
                assert cost.fraction({**kept, root: min(shallower)}, [], "latency") > budget, (budget, root)
    assert alloc.ratios["down1.0"] > 0  # the group that saves most per step carries the cut
