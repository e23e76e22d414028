"""Device memory models: TFLM's greedy arena layout simulated byte for byte, the peak activation found where it
lives, and an arena budget met as TFLM measures it."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.embedded.compile import PlanCompiler
from edgeprune.embedded.memory import MemoryModel, activations, arena_bytes, greedy_head, peak_activation
from edgeprune.embedded.slicing import operators
from edgeprune.embedded.tflm import run_tflm
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.prune import make_plan


def test_greedy_layout_packs_largest_first() -> None:
    # a (40, t0-1), b (30, t1-2), c (30, t2-3): a at 0, then b and c (equal sizes: the later one first):
    # c at 0 (a is over by t2), b overlaps a and c in time -> after a (40): head 70
    assert greedy_head([40, 30, 30], [0, 1, 2], [1, 2, 3]) == 70
    # disjoint lifetimes share the same bytes
    assert greedy_head([16, 32, 16], [0, 2, 4], [1, 3, 5]) == 32


@pytest.fixture(scope="module")
def setup(small_model, digits):
    from edgeprune.data import take

    example = digits.example()
    groups = prunable_groups(small_model, example)
    units = find_units(small_model, example, groups)
    x, _ = take(digits.select, 32)
    compiler = PlanCompiler(small_model, example, x, units)
    data = compiler.converted(None).read_bytes()
    tensors = activations(data, compiler.out_axes())
    return compiler, groups, tensors, len(operators(data))


def _arena(path) -> int:
    return run_tflm(path, np.zeros((1, 1, 8, 8), np.int8)).arena_bytes


def test_arena_model_is_tflm_byte_for_byte(setup, small_model, digits) -> None:
    compiler, groups, tensors, count = setup
    model = arena_bytes(tensors, count)
    base = _arena(compiler.converted(None))
    fitted = MemoryModel(model, {g.root: g.width for g in groups}, base)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ratios = {g.root: float(rng.uniform(0.1, 0.8)) for g in groups}
        plan = make_plan(small_model, digits.example(), ratios, importance="l2", round_to=2)
        assert fitted.predict(fitted.plan_counts(plan)) == _arena(compiler.tflite(plan))


def test_peak_lives_at_the_stem(setup) -> None:
    """The widest activations are the stem's (8x8x8): only cutting the stem lowers the peak."""
    _, groups, tensors, count = setup
    peak = peak_activation(tensors, count)
    full = peak({})
    assert peak({"stem.0": 4}) < full
    others = {g.root: 2 for g in groups if g.root != "stem.0"}
    assert peak(others) == pytest.approx(full, rel=0.2)
    smooth = peak_activation(tensors, count, 0.05)
    assert smooth({}) > full and smooth(others) < smooth({})  # the smoothed price still counts other cuts
