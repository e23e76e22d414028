"""Real torchvision architectures: a uniform plan cuts exactly the channels it names (silenced channels, pruned,
leave the output unchanged up to float noise). Covers shuffles, grouped convs, SE gates, dense concatenations."""

from __future__ import annotations

import pytest
import torch
import torchvision
from tests.graph.exactness import max_change

from edgeprune.models.init import make_non_degenerate
from edgeprune.prune import make_plan


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["shufflenet_v2_x0_5", "resnext50_32x4d", "efficientnet_b0", "densenet121", "regnet_y_400mf", "googlenet"]
)
def test_uniform_plan_is_exact_on_torchvision(name: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    make_non_degenerate(model, seed=0, example=x)  # a wrongly kept or removed channel shows in the output
    plan = make_plan(model, x, 0.4)
    assert len(plan.groups) >= 15 and all(g.reason for g in plan.left_alone)
    assert max_change(model, x, plan) < 1e-5
