"""Gradual connection pruning inside the real fine-tune loop (digits, EdgeNet width 4)."""

from __future__ import annotations

import copy
import shutil

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from edgeprune.config import FinetuneConfig
from edgeprune.data import take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import evaluate, fit
from edgeprune.finetune.checkpoint import list_checkpoints
from edgeprune.prune import apply_plan, make_plan
from edgeprune.sparsity import GradualSparsity, SparsityOptions, fit_steps, sparsity_of
from edgeprune.sparsity.masking import mask_of
from edgeprune.sparsity.patterns import matrix_view


class Recording(GradualSparsity):
    """Keeps a copy of every mask at each epoch end."""

    def on_epoch_end(self, model: nn.Module, record: dict) -> None:
        self.seen = [*getattr(self, "seen", []), {n: m.mask.clone() for n, m in self.masks.items()}]


def _steps(data, cfg: FinetuneConfig) -> int:
    return fit_steps(len(data.train), cfg.batch_size, cfg.epochs, cfg.steps)


def test_unstructured_ramp_reaches_target_and_bakes(tiny, digits) -> None:
    model = copy.deepcopy(tiny)
    cfg = FinetuneConfig(epochs=2, lr=5e-3, distill=False)
    sparse = Recording(model, SparsityOptions(0.8, ramp=(0.0, 0.4)), _steps(digits, cfg))
    result = fit(model, digits, cfg, callback=sparse)
    assert not any(parametrize.is_parametrized(m) for m in model.modules())  # baked: plain weights
    for row in sparsity_of(model, sparse.layers):
        assert row.sparsity == pytest.approx(round(0.8 * row.weights) / row.weights, abs=1e-9), row.layer
    for before, after in zip(sparse.seen, sparse.seen[1:], strict=False):
        for name in before:
            assert (after[name] <= before[name]).all(), f"{name}: a removed connection came back"
    assert len(sparse.seen) == 2 and result.best_epoch in (1, 2)
    assert evaluate(model, digits.val)[0] > 50.0


def test_epochs_before_the_final_mask_are_never_selected(tiny, digits) -> None:
    model = copy.deepcopy(tiny)
    cfg = FinetuneConfig(epochs=2, lr=5e-3, distill=False)
    sparse = GradualSparsity(model, SparsityOptions(0.9, ramp=(0.0, 1.0)), _steps(digits, cfg))
    result = fit(model, digits, cfg, callback=sparse)
    assert sparse.current == 0.9 and result.best_epoch == 2


def test_two_four_after_channel_pruning(tiny, digits) -> None:
    example = take(digits.select, 1)[0]
    plan = make_plan(tiny, example, 0.5)
    model = apply_plan(copy.deepcopy(tiny), plan, example)
    widths = {n: m.weight.shape for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    cfg = FinetuneConfig(epochs=1, lr=5e-3, distill=False)
    sparse = GradualSparsity(model, SparsityOptions(pattern="2:4", ramp=(0.0, 0.0)), _steps(digits, cfg))
    assert sparse.current == 0.5  # ramp (0, 0): pruned at once, before the first step
    assert "stem.0" in sparse.dense and "not a multiple of 4" in sparse.dense["stem.0"]
    fit(model, digits, cfg, callback=sparse)
    assert {n: m.weight.shape for n, m in model.named_modules() if isinstance(m, nn.Conv2d)} == widths
    for name in sparse.layers:
        w = matrix_view(model.get_submodule(name).weight.detach())
        assert ((w != 0).reshape(w.shape[0], -1, 4).sum(-1) <= 2).all(), name


@pytest.mark.slow
def test_resume_restores_masks_bit_exactly(tiny, digits, tmp_path) -> None:
    cfg = FinetuneConfig(epochs=2, lr=5e-3, distill=False, checkpoint_steps=7, keep_checkpoints=100)
    options = SparsityOptions(0.7, pattern="4x1", ramp=(0.0, 0.6), every=3)
    full = copy.deepcopy(tiny)
    fit(full, digits, cfg, callback=GradualSparsity(full, options, _steps(digits, cfg)), run_dir=tmp_path / "full")
    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "full" / "checkpoints", run / "checkpoints")
    for p in list_checkpoints(run)[2:]:  # keep two mid-ramp checkpoints (steps 7 and 14)
        p.unlink()
    resumed = copy.deepcopy(tiny)
    result = fit(resumed, digits, cfg, callback=GradualSparsity(resumed, options, _steps(digits, cfg)), run_dir=run,
                 resume=True)  # fmt: skip
    assert result.resumed_from is not None
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_masks_are_buffers_and_errors_name_the_layer(tiny) -> None:
    model = copy.deepcopy(tiny)
    sparse = GradualSparsity(model, SparsityOptions(0.5, layers=("down1.0",)), total_steps=10)
    assert sparse.layers == ["down1.0"] and mask_of(model.down1[0]) is not None
    assert "down1.0.parametrizations.weight.0.mask" in model.state_dict()
    with pytest.raises(EdgepruneError, match="'nope' is not a Conv or Linear layer"):
        GradualSparsity(copy.deepcopy(tiny), SparsityOptions(0.5, skip=("nope",)), total_steps=10)
    with pytest.raises(EdgepruneError, match="needs >= 1"):
        GradualSparsity(copy.deepcopy(tiny), SparsityOptions(0.5), total_steps=0)
