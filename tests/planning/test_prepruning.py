"""Pruning before training: same widths and MACs as post-pruning at that budget, trained from scratch."""

from __future__ import annotations

import pytest
import torch

from edgeprune.data import ArrayDataset
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import evaluate
from edgeprune.models import ModelSpec
from edgeprune.planning.prepruning import prune_at_init, prune_before_training

SPEC = ModelSpec("planning_models:edgenet4")


def test_snip_and_uniform_reach_the_same_widths(digits) -> None:
    snip = prune_at_init(SPEC, digits, 0.3, "snip")
    uniform = prune_at_init(SPEC, digits, 0.3, "uniform")
    assert snip.macs <= 0.3 * snip.base_macs and snip.macs == uniform.macs and snip.ratio == uniform.ratio
    assert [len(g.keep) for g in snip.plan.groups] == [len(g.keep) for g in uniform.plan.groups]
    assert all(g.keep == list(range(len(g.keep))) for g in uniform.plan.groups)
    assert any(g.keep != list(range(len(g.keep))) for g in snip.plan.groups)  # SNIP chose by |g * w|
    assert snip.plan.importance == "taylor" and uniform.plan.importance == "uniform-init"


def test_prune_before_training_trains_the_small_model(digits) -> None:
    pre = prune_before_training(SPEC, digits, 0.5, epochs=2, score="snip")
    assert pre.result is not None and len(pre.result.history) == 2
    assert pre.macs <= 0.5 * pre.base_macs
    assert evaluate(pre.model, digits.val)[0] > 30.0  # chance: 10%


def test_bad_arguments() -> None:
    with pytest.raises(EdgepruneError, match="score 'magic' is unknown"):
        prune_at_init(SPEC, _Empty(), 0.5, "magic")
    with pytest.raises(EdgepruneError, match=r"prune\.macs is 0"):
        prune_at_init(SPEC, _Empty(), 0.0)


class _Empty:
    """Just enough of a Data record: a four-sample select split."""

    select = ArrayDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    name = "empty"
