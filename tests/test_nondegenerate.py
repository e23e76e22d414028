"""Random weights that exercise every branch: norms random per channel, statistics measured then perturbed,
constant parameters (zero-init-last norms, tiny layer scales, zeroed heads) random."""

from __future__ import annotations

import torch
from torch import nn

from edgeprune.models.init import make_non_degenerate


class ZeroInitResidual(nn.Module):
    """A residual block whose last norm starts at zero (timm's zero_init_last), a layer scale and a zeroed head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        nn.init.zeros_(self.branch[1].weight)
        self.scale = nn.Parameter(torch.full((8,), 1e-6))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 4)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.branch(x) * self.scale[:, None, None]
        return self.head(self.norm(x.mean((2, 3))))


def test_every_branch_carries_signal_and_values_differ_per_channel() -> None:
    torch.manual_seed(0)
    model = ZeroInitResidual().eval()
    x = torch.randn(2, 3, 16, 16)
    assert float(model(x).abs().max()) == 0.0  # the zeroed head hides everything
    done = make_non_degenerate(model, seed=0, example=x)
    assert (done.norms, done.constants, done.calibrated) == (3, 3, True)  # 2 BN + LN; scale, head weight, head bias
    bn = model.branch[1]
    for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var, model.scale):
        assert len(set(tensor.detach().tolist())) == 8  # per channel, not one shared value
    assert float(bn.weight.min()) >= 0.5 and float(bn.running_var.min()) > 0
    out = model(x)
    assert torch.isfinite(out).all() and float((out[0] - out[1]).abs().max()) > 1e-3  # input-dependent
    with torch.no_grad():  # the residual branch now moves the output
        model.branch[1].weight.zero_()
    assert float((model(x) - out).abs().max()) > 1e-3
    assert not model.training  # the eval mode is kept


def test_seeded_and_without_an_example_statistics_are_random() -> None:
    a, b = ZeroInitResidual(), ZeroInitResidual()
    b.load_state_dict(a.state_dict())
    ra, rb = make_non_degenerate(a, seed=3), make_non_degenerate(b, seed=3)
    assert not ra.calibrated and ra == rb
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    var = a.stem[1].running_var
    assert float(var.min()) >= 0.5 and float(var.max()) <= 1.5
