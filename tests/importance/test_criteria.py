"""Every registered criterion scores every index of a coupled group, aggregated over all its layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.depgraph import build_graph, group_of
from edgeprune.importance import get_importance, known_importances
from edgeprune.prune import make_plan


def _group(model: nn.Module, root: str, x: torch.Tensor):
    dg = build_graph(model, x)
    return group_of(dg, model, root, list(range(dg.get_out_channels(model.get_submodule(root)))))


@pytest.fixture()
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))


def test_registry_has_every_criterion() -> None:
    names = {"magnitude", "l1", "l2", "taylor", "activation", "hessian", "bn_scale", "random", "entropy"}
    assert names | {"relative-l2", "relative-taylor", "relative-entropy"} <= set(known_importances())
    with pytest.raises(EdgepruneError, match="importance 'nope' is unknown"):
        get_importance("nope")


@pytest.mark.parametrize(
    "name",
    ["l1", "l2", "taylor", "activation", "hessian", "bn_scale", "random", "entropy", "relative-l2", "relative-taylor"],
)
def test_scores_cover_residual_group(name: str, edgenet: nn.Module, batch) -> None:
    x, y = batch
    with torch.no_grad():
        for m in edgenet.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)  # a fresh BN has gamma = 1 everywhere: bn_scale would tie
    criterion = get_importance(name, edgenet, x, y)
    scores = criterion(_group(edgenet, "down1.0", x[:1]))  # residual group: down1.0 + block1.body.1 + BNs
    assert scores.shape == (16,) and torch.isfinite(scores).all() and (scores >= 0).all()
    assert scores.std() > 0
    plan = make_plan(edgenet, x[:1], 0.5, importance=criterion)
    assert plan.importance == criterion.name
    assert len(plan.group("down1.0").keep) == 8


def test_l1_equals_hand_computed_group_sum(batch) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    scores = get_importance("l1")
    g = _group(model, "0", torch.randn(1, 4))
    w1, b1, w2 = model[0].weight.detach(), model[0].bias.detach(), model[2].weight.detach()
    # three contributions per index (rows of layer 0, its bias, columns of layer 2), averaged, normalized to mean 1
    raw = (w1.abs().sum(1) + b1.abs() + w2.abs().sum(0)) / 3
    assert torch.allclose(scores(g), (raw / raw.mean()).float(), atol=1e-5)


def test_activation_prefers_used_channels() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([5.0, -50.0, 5.0]))  # neuron 1 is dead after the ReLU
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    scores = get_importance("activation", model, x, y)(_group(model, "0", x[:1]))
    assert scores.argmin().item() == 1 and scores[1] < 1e-6


def test_data_criteria_demand_prepare(edgenet: nn.Module, batch) -> None:
    group = _group(edgenet, "stem.0", batch[0][:1])
    for name in ("taylor", "hessian", "activation", "entropy", "relative-taylor"):
        with pytest.raises(EdgepruneError, match="needs data"):
            get_importance(name)(group)


def test_gradient_criteria_leave_grads_untouched(edgenet: nn.Module, batch) -> None:
    get_importance("taylor", edgenet, *batch)
    assert all(p.grad is None for p in edgenet.parameters())
