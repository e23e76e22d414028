"""Mask patterns: exact sparsity, N:M groups along the inputs, whole blocks; the schedule; options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.sparsity import CubicSchedule, SparsityOptions, parse_pattern
from edgeprune.sparsity.patterns import from_matrix, matrix_view


def test_matrix_view_is_ohwi_and_round_trips() -> None:
    w = torch.randn(6, 8, 3, 3)
    m = matrix_view(w)
    assert m.shape == (6, 72)
    assert torch.equal(m[2, :8], w[2, :, 0, 0])  # the first 8 columns: every input channel at kernel (0, 0)
    assert torch.equal(from_matrix(m, w.shape), w)
    lin = torch.randn(5, 7)
    assert torch.equal(from_matrix(matrix_view(lin), lin.shape), lin)


def test_unstructured_removes_the_smallest() -> None:
    mag = torch.arange(1.0, 21.0).reshape(4, 5)
    keep = parse_pattern("unstructured").mask(mag, 0.8)
    assert int(keep.sum()) == 4
    assert keep.reshape(-1)[-4:].all()  # the four largest survive


def test_two_four_groups_along_inputs() -> None:
    torch.manual_seed(0)
    mag = torch.rand(8, 32)
    pattern = parse_pattern("2:4")
    assert pattern.fixed_sparsity == 0.5
    full = pattern.mask(mag, 0.5)
    assert (full.reshape(8, 8, 4).sum(-1) == 2).all()
    kept_values = (mag * full).reshape(8, 8, 4)
    dropped_max = torch.where(full, torch.zeros_like(mag), mag).reshape(8, 8, 4).amax(-1)
    assert (kept_values.amax(-1) >= dropped_max).all()  # the two largest of every group survive
    half = pattern.mask(mag, 0.25)  # a ramp step: a subset of what 2:4 removes
    assert int((~half).sum()) == 64
    assert ((~half) <= (~full)).all()


@pytest.mark.parametrize("name,rows,cols", [("4x1", 4, 1), ("1x4", 1, 4)])
def test_blocks_are_removed_whole(name: str, rows: int, cols: int) -> None:
    torch.manual_seed(0)
    mag = torch.rand(16, 32)
    keep = parse_pattern(name).mask(mag, 0.75)
    blocks = keep.reshape(16 // rows, rows, 32 // cols, cols).float().mean((1, 3))
    assert set(blocks.unique().tolist()) == {0.0, 1.0}
    assert blocks.mean().item() == pytest.approx(0.25)


def test_misfit_layers_are_named() -> None:
    dw = nn.Conv2d(8, 8, 3, groups=8)
    assert "not a multiple of 4" in parse_pattern("2:4").misfit(dw)
    assert parse_pattern("4x1").misfit(dw) is None
    assert "does not tile" in parse_pattern("4x1").misfit(nn.Linear(8, 6))
    assert parse_pattern("unstructured").misfit(dw) is None


@pytest.mark.parametrize("bad", ["dense", "4:2", "0:4", "1x1", "x4"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(EdgepruneError, match=r"prune\.pattern"):
        parse_pattern(bad)


def test_cubic_schedule() -> None:
    s = CubicSchedule(final=0.8, begin=10, end=110)
    assert s.at(0) == 0.0 and s.at(10) == 0.0 and s.at(110) == 0.8 and s.at(500) == 0.8
    assert s.at(60) == pytest.approx(0.8 * (1 - 0.5**3))
    values = [s.at(t) for t in range(0, 120)]
    assert values == sorted(values)
    with pytest.raises(EdgepruneError, match="begin <= end"):
        CubicSchedule(final=0.5, begin=5, end=1)


def test_options_validate() -> None:
    assert SparsityOptions(pattern="2:4").target == 0.5
    assert SparsityOptions(0.8).target == 0.8
    with pytest.raises(EdgepruneError, match=r"does not match prune\.pattern '2:4'"):
        SparsityOptions(0.8, pattern="2:4")
    with pytest.raises(EdgepruneError, match=r"prune\.sparsity is required"):
        SparsityOptions(pattern="1x4")
    with pytest.raises(EdgepruneError, match="must lie in"):
        SparsityOptions(1.0)
