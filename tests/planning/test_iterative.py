"""Iterative prune -> fine-tune schedules, plan composition and accumulated Taylor importance."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune.taylor import TaylorTracker
from edgeprune.models import ModelSpec, build_model
from edgeprune.planning.iterative import compose, iterative_prune, uniform_planner
from edgeprune.prune import apply_plan, count_macs_params, load_pruned, make_plan

SPEC = ModelSpec("tinymodels:edgenet4")


@pytest.fixture()
def net() -> nn.Module:
    torch.manual_seed(0)
    return build_model(SPEC)


def test_compose_equals_sequential_pruning(net: nn.Module, digits) -> None:
    x = take(digits.train, 2)[0]
    first = make_plan(net, x, 0.25, spec=SPEC)
    once = apply_plan(copy.deepcopy(net), first, x)
    second = make_plan(once, x, {"stem.0": 0.5, "hidden": 0.5}, importance="l1")
    twice = apply_plan(once, second, x)
    both = compose(first, second)
    replayed = apply_plan(copy.deepcopy(net), both, x).eval()
    assert replayed.state_dict().keys() == twice.state_dict().keys()
    for k, v in twice.state_dict().items():
        assert torch.equal(replayed.state_dict()[k], v), k
    stem = both.group("stem.0")
    assert stem is not None and stem.width == 4 and len(stem.keep) == 2  # 4 -> 3 -> 2 (nearest step)
    with pytest.raises(EdgepruneError, match=r"compose: group 'stem\.0'"):
        compose(second, first)


def test_uniform_planner_meets_target(net: nn.Module, digits) -> None:
    x = take(digits.train, 1)[0]
    base, _ = count_macs_params(net, x)
    plan = uniform_planner()(net, x, int(0.5 * base), "magnitude")
    macs, _ = count_macs_params(apply_plan(copy.deepcopy(net), plan, x), x)
    assert 0.3 * base < macs <= 0.5 * base


@pytest.mark.parametrize("gradient", [False, True])
def test_iterative_schedule_reaches_budget_and_reloads(net: nn.Module, digits, tmp_path, gradient: bool) -> None:
    x = take(digits.train, 1)[0]
    base, _ = count_macs_params(net, x)
    cfg = FinetuneConfig(epochs=1, lr=5e-3)
    result = iterative_prune(net, digits, 0.4, 2, cfg, gradient=gradient, spec=SPEC, run_dir=tmp_path)
    fractions = [s["macs_fraction"] for s in result.steps]
    assert len(fractions) == 2 and fractions[0] > fractions[1] and fractions[1] <= 0.4
    assert fractions[0] <= 0.4**0.5 + 1e-9
    assert count_macs_params(net, x)[0] == base  # the input model is untouched
    loaded, plan = load_pruned(tmp_path / "model", SPEC.spec)
    assert plan.to_dict() == result.plan.to_dict()
    with torch.no_grad():
        assert torch.equal(loaded(take(digits.val, 8)[0]), result.model.eval()(take(digits.val, 8)[0]))
    assert (tmp_path / "step-1" / "result.json").is_file() and (tmp_path / "iterative.json").is_file()


def test_taylor_tracker_accumulates_and_restores_grads(net: nn.Module, digits) -> None:
    tracker = TaylorTracker()
    x, y = take(digits.train, 16)[0], take(digits.train, 16)[1]
    expected = None
    for _ in range(2):
        net.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        tracker.after_backward(net)
        step = (net.stem[0].weight.grad * net.stem[0].weight).abs()
        expected = step if expected is None else expected + step
    assert tracker.count == 2 and torch.allclose(tracker.sums["stem.0.weight"], expected)
    grad_before = net.stem[0].weight.grad.clone()
    plan_taylor = None
    with tracker.installed(net) as scorer:
        plan_taylor = make_plan(net, x[:1], 0.5, importance=scorer)
    assert torch.equal(net.stem[0].weight.grad, grad_before)
    assert len(plan_taylor.group("stem.0").keep) == 2
    crafted = TaylorTracker()  # saliency only on stem channels 1 and 3: the Taylor plan must keep exactly those
    crafted.sums = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    crafted.sums["stem.0.weight"][[1, 3]] = 1.0
    with crafted.installed(net) as scorer:
        assert make_plan(net, x[:1], 0.5, importance=scorer).group("stem.0").keep == [1, 3]
    restored = TaylorTracker()
    restored.load_state_dict(tracker.state_dict())
    assert torch.equal(restored.sums["stem.0.weight"], tracker.sums["stem.0.weight"])
