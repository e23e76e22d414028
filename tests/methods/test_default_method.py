"""edgeprune's default method (pipeline/method.py + the ``auto`` strategy): what deploy runs and the frontier
benchmark measures."""

from __future__ import annotations

import copy
import math

import pytest

from edgeprune.config import FinetuneConfig, PruneConfig
from edgeprune.pipeline.method import prune_and_train
from edgeprune.pipeline.recipe import recovery_recipe
from edgeprune.pipeline.strategies import Request, known_strategies, prune_to_budget
from edgeprune.prune import count_macs_params
from edgeprune.task import CLASSIFICATION


def _request(model, data, macs: float, method: str = "auto", probe_steps: int = 40) -> Request:
    cfg = PruneConfig(macs=macs, method=method, probe_steps=probe_steps)
    return Request(model, data.example(), {"spec": "edgeprune:default"}, cfg, data, CLASSIFICATION, "classification")


def test_auto_is_the_default_for_deploy_and_plan():
    from edgeprune.pipeline.targets import load_target

    assert PruneConfig().method == "auto" and "auto" in known_strategies()
    assert load_target("tflite").prune.method == "auto"


@pytest.mark.parametrize(("fraction", "lr"), [(1.0, 2e-3), (0.5, 2.828427e-3), (0.05, 8.944272e-3)])
def test_recovery_lr_grows_as_the_cut_deepens(fraction, lr):
    recipe = recovery_recipe(FinetuneConfig(lr=2e-3, epochs=3), fraction)
    assert recipe.lr == pytest.approx(lr, rel=1e-5) and recipe.epochs == 3 and recipe.batch_size == 32


def test_auto_without_probe_keeps_the_better_scored_right_after_pruning(tiny, digits):
    planned = prune_to_budget(_request(tiny, digits, 0.3, probe_steps=0), FinetuneConfig())
    scores = planned.details["auto"]
    assert set(scores) == {"uniform", "sensitivity"}
    assert planned.method in scores and planned.predicted == pytest.approx(max(scores.values()), abs=1e-3)
    assert planned.macs <= 0.3 * planned.base_macs


def test_auto_keeps_the_better_after_the_probe_fine_tune(tiny, digits):
    """Each plan gets probe_steps of the recovery fine-tune on a copy; the better on select is kept, untrained."""
    from edgeprune.pipeline.probe import probe_metric

    before = copy.deepcopy(tiny.state_dict())
    ft = FinetuneConfig(epochs=2, seed=0)
    planned = prune_to_budget(_request(tiny, digits, 0.3, probe_steps=12), ft)
    auto = planned.details["auto"]
    assert auto["probe_steps"] == 12 and {"uniform probed", "sensitivity probed"} <= set(auto)
    probed = {m: auto[f"{m} probed"] for m in ("uniform", "sensitivity")}
    assert planned.method == max(probed, key=lambda m: (probed[m], m == "uniform"))
    # the kept plan's weights are the pruned ones (the probe trained a copy): its select score is the untrained one
    assert planned.predicted == pytest.approx(auto[planned.method], abs=1e-3)
    assert all((before[k] == v).all() for k, v in tiny.state_dict().items())
    # the probe is the recovery fine-tune's start: seeded, so the same candidate scores the same again
    again = probe_metric(tiny, digits, CLASSIFICATION, planned, ft, 12)
    assert again == pytest.approx(probed[planned.method], abs=1e-3)
    assert min(probed.values()) >= 0.0 and max(probed.values()) <= 100.0


def test_auto_keeps_the_method_that_can_plan_and_says_why(tiny, digits, monkeypatch):
    """A method whose plan fails (a YOLO's sensitivity plan changed its outputs) leaves the other, recorded."""
    import edgeprune.pipeline.strategies as strategies
    from edgeprune.errors import EdgepruneError

    def unsafe(req, budget):
        raise EdgepruneError("pruning changed the model output shape from [(1, 64, 84)] to [(1, 64, 63)]; unsafe")

    monkeypatch.setattr(strategies, "_sensitivity", unsafe)
    planned = prune_to_budget(_request(tiny, digits, 0.3), FinetuneConfig())
    assert planned.method == "uniform" and "unsafe" in planned.details["auto"]["sensitivity failed"]
    monkeypatch.setattr(strategies, "_uniform", unsafe)
    with pytest.raises(EdgepruneError, match="no method could plan this model"):
        prune_to_budget(_request(tiny, digits, 0.3), FinetuneConfig())


def test_prune_and_train_fine_tunes_with_the_recovery_recipe(tiny, digits):
    before = copy.deepcopy(tiny.state_dict())
    req = _request(tiny, digits, 0.4, "uniform")
    outcome = prune_and_train(req, FinetuneConfig(epochs=1, lr=1e-3), copy.deepcopy(tiny))
    assert all((before[k] == v).all() for k, v in tiny.state_dict().items())  # the unpruned model is untouched
    assert outcome.recipe.lr == pytest.approx(1e-3 / math.sqrt(0.4))
    assert outcome.planned.details["recovery"] == {"lr": outcome.recipe.lr, "batch_size": 32, "rule": "lr / sqrt(kept)"}
    assert len(outcome.fit.history) == 1 and outcome.fit.history[0]["lr"] < outcome.recipe.lr  # one-cycle ran down
    macs = count_macs_params(outcome.model, digits.example())[0]
    assert macs <= 0.4 * count_macs_params(tiny, digits.example())[0]
    assert outcome.fit.best_select_metric >= outcome.fit.start_select_metric  # never handed back worse on select
