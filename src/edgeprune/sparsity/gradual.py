"""Gradual connection pruning during fine-tuning, as a callback of :func:`edgeprune.finetune.fit`.

    sparse = GradualSparsity(model, SparsityOptions(sparsity=0.8), total_steps=fit_steps(...))
    fit(model, data, cfg, teacher=teacher, callback=sparse)   # masks tighten every few steps; baked at the end

After each backward pass the step count advances; every ``every`` steps the masks are recomputed on the
current (masked) weights at the schedule's sparsity and intersected with the previous ones, so a removed
connection never comes back. Epochs that end before the final sparsity is reached are never selected
as the best (``ready_for_selection``), and the model leaves ``fit`` with plain weights holding the zeros.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.sparsity.masking import LAYERS, WeightMask, attach, bake, overall, sparsity_of
from edgeprune.sparsity.options import SparsityOptions
from edgeprune.sparsity.patterns import Pattern, from_matrix, matrix_view
from edgeprune.sparsity.schedule import CubicSchedule

UPDATES_PER_RAMP = 16


def choose_layers(model: nn.Module, options: SparsityOptions) -> tuple[list[str], dict[str, str]]:
    """(layers to sparsify, {layer left dense: why}) for ``options`` on ``model``."""
    pattern = options.parsed
    known = {name for name, m in model.named_modules() if isinstance(m, LAYERS)}
    for name in (*options.layers, *options.skip):
        if name not in known:
            raise EdgepruneError(f"sparsity: '{name}' is not a Conv or Linear layer of the model")
    wanted = options.layers or tuple(name for name, m in model.named_modules() if isinstance(m, LAYERS))
    chosen, dense = [], {}
    for name in wanted:
        reason = "skipped" if name in options.skip else pattern.misfit(model.get_submodule(name))
        if reason:
            dense[name] = reason
        else:
            chosen.append(name)
    if not chosen:
        raise EdgepruneError(f"sparsity: pattern '{options.pattern}' fits none of the layers ({dense})")
    return chosen, dense


def tighten(layer: nn.Module, mask: WeightMask, pattern: Pattern, sparsity: float) -> None:
    """Shrink ``mask`` so the layer's masked weight reaches ``sparsity`` under ``pattern`` (never regrows)."""
    weight = layer.weight.detach()
    keep = pattern.mask(matrix_view(weight.abs()).cpu(), sparsity)
    mask.mask.mul_(from_matrix(keep, weight.shape).to(mask.mask))


class GradualSparsity:
    """Fine-tune callback: masks attached now, tightened on the cubic schedule, baked when ``fit`` ends."""

    def __init__(self, model: nn.Module, options: SparsityOptions, total_steps: int) -> None:
        if total_steps < 1:
            raise EdgepruneError(f"sparsity: the fine-tune runs {total_steps} steps; connection pruning needs >= 1")
        self.options = options
        self.pattern = options.parsed
        self.layers, self.dense = choose_layers(model, options)
        self.masks = attach(model, self.layers)
        begin, end = (round(f * total_steps) for f in options.ramp)
        self.schedule = CubicSchedule(options.target, begin, end)
        self.every = options.every or max(1, (end - begin) // UPDATES_PER_RAMP)
        self.step = 0
        self.current = 0.0
        if self.schedule.at(0) > 0:  # ramp (0, 0): prune at once, then fine-tune
            self.update(model, self.schedule.at(0))

    def update(self, model: nn.Module, sparsity: float) -> None:
        """Tighten every mask to ``sparsity``."""
        for name in self.layers:
            tighten(model.get_submodule(name), self.masks[name], self.pattern, sparsity)
        self.current = sparsity

    # -- the fit callback protocol ----------------------------------------------------------------
    def after_backward(self, model: nn.Module) -> None:
        self.step += 1
        target = self.schedule.at(self.step)
        if target > self.current and (self.step % self.every == 0 or target >= self.schedule.final):
            self.update(model, target)

    def ready_for_selection(self, model: nn.Module) -> bool:
        """True once the masks are final: only such epochs may be kept as the best."""
        return self.current >= self.schedule.final

    def on_fit_end(self, model: nn.Module) -> None:
        """Bake the masks into plain weights (zeros kept)."""
        bake(model)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.current = int(state["step"]), float(state["current"])

    def achieved(self, model: nn.Module) -> float:
        """Fraction of zeros over the chosen layers' weights now."""
        return overall(sparsity_of(model, self.layers))
