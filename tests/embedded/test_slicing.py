"""A plan's int8 network sliced from the unpruned file matches the pruned model converted again: same shapes, same
Vela cycles and memory, a second instead of a conversion; what the slicer cannot follow is refused."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from edgeprune.config import NpuConfig
from edgeprune.embedded.compile import PlanCompiler
from edgeprune.embedded.slicing import SliceError, operators, slice_tflite
from edgeprune.embedded.vela import compile_for_npu
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.prune import apply_plan, count_macs_params, make_plan

U55 = NpuConfig("ethos-u55-128")


@pytest.fixture(scope="module")
def compiler(small_model, digits, tmp_path_factory):
    from edgeprune.data import take

    x, _ = take(digits.select, 32)
    example = digits.example()
    units = find_units(small_model, example, prunable_groups(small_model, example))
    return PlanCompiler(small_model, example, x, units)


@pytest.fixture(scope="module")
def plan(small_model, digits):
    ratios = {"stem.0": 0.5, "down1.0": 0.25, "block1.body.0.0": 0.5, "down2.0": 0.5, "block3.body.0": 0.75}
    return make_plan(small_model, digits.example(), ratios, importance="l2", round_to=2)


def test_sliced_network_is_the_pruned_network(compiler, plan, small_model, digits) -> None:
    sliced = compiler.tflite(plan)
    converted = compiler.converted(plan)
    assert sliced.name.endswith(".sliced-v1.tflite") and compiler.sliced == 1
    a, b = compile_for_npu(sliced, U55), compile_for_npu(converted, U55)
    assert a.cycles == b.cycles and a.sram_bytes == b.sram_bytes  # Vela sees the same network
    assert abs(a.flash_bytes - b.flash_bytes) <= 64  # biases differ by their activation scales only
    assert [op.macs for op in a.ops] == [op.macs for op in b.ops]
    full = compile_for_npu(compiler.converted(None), U55)
    pruned = apply_plan(copy.deepcopy(small_model), plan, digits.example())
    base, _ = count_macs_params(small_model, digits.example())
    macs, _ = count_macs_params(pruned, digits.example())
    assert a.macs / full.macs == pytest.approx(macs / base, rel=0.01)  # Vela counts what edgeprune counts


def test_sliced_file_runs_on_litert(compiler, plan) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(compiler.tflite(plan)))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], np.int8))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)


def test_unfollowable_cut_is_refused(compiler) -> None:
    """Cutting one conv of a residual pair alone leaves the add joining different channels: refused by name."""
    data = compiler.converted(None).read_bytes()
    convs = [i for i, (op, _) in enumerate(operators(data)) if op == "CONV_2D"]
    with pytest.raises(SliceError, match=r"an elementwise operator joins tensors that keep different channels"):
        slice_tflite(data, lambda i, _: np.arange(4) if i == convs[2] else None)


def test_without_units_every_plan_is_converted(small_model, digits, tmp_path: Path) -> None:
    """Without units the compiler cannot attribute layers: every plan is converted (and cached)."""
    from edgeprune.data import take

    x, _ = take(digits.select, 8)
    plain = PlanCompiler(small_model, digits.example(), x)
    plan = make_plan(small_model, digits.example(), 0.5, importance="l2", round_to=4)
    assert plain.tflite(plan) == plain.converted(plan) and plain.sliced == 0
