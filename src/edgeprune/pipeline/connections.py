"""Connection pruning inside deploy's training: the gradual-sparsity callback a target asks for, and what it left."""

from __future__ import annotations

from torch import nn

from edgeprune.config import FinetuneConfig, PruneConfig
from edgeprune.data import Data
from edgeprune.report import ConnectionFigures
from edgeprune.sparsity import GradualSparsity, SparsityOptions, fit_steps, overall, sparsity_of


def sparsity_options(cfg: PruneConfig) -> SparsityOptions | None:
    """The connection pruning ``prune.sparsity`` / ``prune.pattern`` ask for (None: off); validates both fields."""
    if not cfg.connections:
        return None
    return SparsityOptions(cfg.sparsity or None, pattern=cfg.pattern)


def sparsity_callback(model: nn.Module, cfg: PruneConfig, train: FinetuneConfig, data: Data) -> GradualSparsity | None:
    """Masks on ``model``'s weights that reach the target on a cubic schedule over the training steps (baked in at
    the end of ``fit``); None when the target prunes no connections."""
    options = sparsity_options(cfg)
    if options is None:
        return None
    steps = fit_steps(len(data.train), train.batch_size, train.epochs, train.steps)
    return GradualSparsity(model, options, steps)


def connection_figures(model: nn.Module, callback: GradualSparsity | None) -> ConnectionFigures | None:
    """The zeros the trained model holds, over the sparsified layers and over every conv/linear weight."""
    if callback is None:
        return None
    return ConnectionFigures(
        pattern=callback.options.pattern,
        target=round(callback.options.target, 6),
        reached=round(overall(sparsity_of(model, callback.layers)), 6),
        all_weights=round(overall(sparsity_of(model)), 6),
        dense_layers=dict(callback.dense),
    )
