"""Entropy (low-information channels first) and relative (layer-normalized) criteria."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.depgraph import build_graph, group_of
from edgeprune.importance import get_importance
from edgeprune.importance.entropy import histogram_entropy
from edgeprune.importance.relative import l2_normalized, lamp
from edgeprune.prune import make_plan


def _group(model: nn.Module, root: str, x: torch.Tensor):
    dg = build_graph(model, x)
    return group_of(dg, model, root, list(range(dg.get_out_channels(model.get_submodule(root)))))


def test_histogram_entropy_bounds() -> None:
    n, bins = 4096, 16
    spread = torch.linspace(0, 1, n)[:, None]  # fills every bin equally: log2(bins) bits
    constant = torch.full((n, 1), 3.0)  # no information at all
    two_values = (torch.arange(n) % 2).float()[:, None]  # one bit
    h = histogram_entropy(torch.cat([spread, constant, two_values], 1), bins)
    assert h[0].item() == pytest.approx(math.log2(bins), abs=1e-3)
    assert h[1].item() == 0.0
    assert h[2].item() == pytest.approx(1.0, abs=1e-6)


def test_entropy_prunes_the_uninformative_neuron_first() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([0.0, -50.0, 0.0]))  # neuron 1 is always 0 after the ReLU
    x, y = torch.randn(256, 4), torch.randint(0, 2, (256,))
    scores = get_importance("entropy", model, x, y)(_group(model, "0", x[:1]))
    assert scores.argmin().item() == 1 and scores[1].item() == 0.0
    assert (scores[[0, 2]] > 0).all()
    plan = make_plan(model, x[:1], 0.3, importance=get_importance("entropy", model, x, y))
    assert plan.group("0").keep == [0, 2]


def test_entropy_rejects_one_bin() -> None:
    with pytest.raises(EdgepruneError, match="bins must be >= 2"):
        get_importance("entropy", bins=1)


def test_normalizers_keep_order_and_fix_scale() -> None:
    s = torch.tensor([3.0, 1.0, 2.0, 0.5])
    r = l2_normalized(s)
    assert r.norm().item() == pytest.approx(1.0) and torch.equal(r.argsort(), s.argsort())
    assert torch.allclose(l2_normalized(10 * s), r)
    lp = lamp(s)
    assert lp.max().item() == pytest.approx(1.0) and torch.equal(lp.argsort(), s.argsort())
    # LAMP of the smallest: 0.25 / (0.25 + 1 + 4 + 9)
    assert lp[3].item() == pytest.approx(0.25 / 14.25)


def test_relative_keeps_the_base_channels_per_group(edgenet: nn.Module) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    base = make_plan(edgenet, x[:1], 0.5, importance="l2")
    rel = make_plan(edgenet, x[:1], 0.5, importance="relative-l2")
    assert rel.importance == "relative-l2"
    assert [g.keep for g in rel.groups] == [g.keep for g in base.groups]
    scores = get_importance("relative-taylor", edgenet, x, y)(_group(edgenet, "down1.0", x[:1]))
    assert scores.norm().item() == pytest.approx(1.0, rel=1e-5)
    assert get_importance("relative-l2", norm="lamp").name == "relative-l2-lamp"
    with pytest.raises(EdgepruneError, match="'relative-l2': norm must be one of"):
        get_importance("relative-l2", norm="nope")
