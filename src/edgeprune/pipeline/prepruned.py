"""``prune.when = "before"`` in deploy: prune the architecture at initialization to the budget, then train it from
scratch (instead of training, pruning and fine-tuning)."""

from __future__ import annotations

from edgeprune.config import FinetuneConfig, Target, training_recipe
from edgeprune.data import Data
from edgeprune.errors import ConfigError
from edgeprune.models import ModelSpec
from edgeprune.planning import Planned
from edgeprune.planning.prepruning import prune_at_init
from edgeprune.prune import count_macs_params
from edgeprune.task import Task

AT_INIT_METHODS = ("uniform", "auto")  # auto (the default) chooses among what applies: at initialization, uniform
INIT_SCORE = "snip"  # |g * w| at initialization over a few select batches (Lee et al. 2019)


def check_before(target: Target) -> None:
    """Refuse what pruning at initialization cannot honour, naming the field."""
    cfg = target.prune
    if cfg.params is not None:
        raise ConfigError("prune.when 'before' budgets MACs only; drop prune.params or prune after training")
    if cfg.max_drop is not None:
        raise ConfigError("prune.when 'before' has no trained model to measure a drop on; drop prune.max_drop")
    if cfg.method not in AT_INIT_METHODS:
        raise ConfigError(
            f"prune.when 'before' prunes one uniform ratio at initialization; prune.method '{cfg.method}' needs"
            " trained weights (use prune.method 'uniform' or prune.when 'after')"
        )


def from_scratch_recipe(target: Target) -> FinetuneConfig:
    """The baseline's recipe for as many epochs as training plus fine-tuning would take (the same total)."""
    return training_recipe(target.model.train_epochs + target.finetune.epochs, target.finetune.seed)


def prune_before(spec: ModelSpec, data: Data, target: Target, task: Task) -> Planned:
    """A freshly initialized (seeded) ``spec`` pruned to the MACs budget, untrained."""
    check_before(target)
    cfg = target.prune
    pre = prune_at_init(
        spec,
        data,
        cfg.budget[1],
        INIT_SCORE,
        round_to=cfg.round_to,
        max_ratio=cfg.max_ratio,
        ignored_layers=cfg.ignored_layers,
        seed=target.finetune.seed,
        loss=task.loss,
    )
    example = data.example()
    _, params = count_macs_params(pre.model, example)
    pre.plan.model = spec.to_dict()
    return Planned(
        plan=pre.plan,
        model=pre.model,
        kind="macs",
        budget=cfg.budget[1],
        macs=pre.macs,
        params=params,
        base_macs=pre.base_macs,
        base_params=pre.base_params,
        method=cfg.method,
        details={"when": "before", "ratio": round(pre.ratio, 6), "init_score": pre.score},
    )
