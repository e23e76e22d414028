"""Global ranking: one threshold over every group, bisected to a MACs budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.planning.global_rank import group_scores, prune_global, ratios_at
from edgeprune.prune import count_macs_params


def test_ratios_at_threshold() -> None:
    scores = {"a": torch.tensor([1.0, 2.0, 3.0, 4.0]), "b": torch.tensor([0.5, 0.6])}
    assert ratios_at(scores, 2.5, 0.9) == {"a": 0.5, "b": 0.9}  # b would lose both: capped


def test_global_ranking_meets_the_budget_and_depends_on_normalization(edgenet: nn.Module) -> None:
    example = torch.randn(1, 1, 28, 28)
    base, _ = count_macs_params(edgenet, example)
    budget = int(0.5 * base)
    plain = prune_global(edgenet, example, budget, importance="l2")
    relative = prune_global(edgenet, example, budget, importance="relative-l2")
    for result in (plain, relative):
        assert result.macs <= budget and result.macs > 0.4 * base
        assert result.macs == count_macs_params(result.model, example)[0]
        assert result.model(example).shape == (1, 10)
    assert relative.ratios != plain.ratios  # the normalization changes which layers pay
    assert "classifier" not in group_scores(edgenet, example, "l2")


def test_global_ranking_impossible_budget(edgenet: nn.Module) -> None:
    with pytest.raises(EdgepruneError, match="above the budget"):
        prune_global(edgenet, torch.randn(1, 1, 28, 28), 10, importance="l2")
