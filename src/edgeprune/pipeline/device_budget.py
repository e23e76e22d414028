"""Budgets measured by the embedded tools: ``prune.speedup`` / ``prune.latency_ms`` on an NPU target (Vela's
estimate) and ``prune.sram_kib`` / ``flash_kib`` / ``arena_kib`` (Vela's SRAM and flash, TFLM's arena), planned by
:mod:`edgeprune.embedded` and handed to deploy as a :class:`~edgeprune.planning.Planned`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from edgeprune.config import Target
from edgeprune.data import take
from edgeprune.embedded.compile import PlanCompiler
from edgeprune.embedded.memory import (
    SMOOTH,
    MemoryModel,
    activations,
    arena_bytes,
    peak_activation,
    weights_kept,
)
from edgeprune.embedded.memplan import plan_to_memory
from edgeprune.embedded.planner import NPU_TOLERANCE, plan_to_npu
from edgeprune.embedded.slicing import operators
from edgeprune.embedded.tflm import run_tflm
from edgeprune.latency.planner import LatencyBudget
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.pipeline.strategies import Request
from edgeprune.planning import Planned
from edgeprune.prune import Plan

CALIBRATION_SAMPLES = 32  # select samples calibrating the int8 files compiled while planning
REFINE_STEPS = 6  # Vela re-plans after the first (each compiles one sliced file, about a second)


def on_device(target: Target) -> bool:
    """True when the target's budget is measured by an embedded tool rather than by timing or counting."""
    return target.prune.memory is not None or (target.prune.latency and target.npu.enabled)


def _calibration(req: Request) -> torch.Tensor:
    x, _ = take(req.data.select, CALIBRATION_SAMPLES)
    return x


def prune_on_npu(req: Request, target: Target) -> Planned:
    """A pruned copy whose Vela estimate meets ``prune.speedup`` / ``prune.latency_ms`` on the target's NPU."""
    cfg = req.cfg
    budget = LatencyBudget(cfg.latency_ms, cfg.speedup, tolerance=NPU_TOLERANCE, refine_steps=REFINE_STEPS)
    sens = req.scan() if cfg.method == "sensitivity" else None
    result = plan_to_npu(
        req.model, req.example, sens, budget, target.npu, _calibration(req), importance=req.criterion(),
        round_to=cfg.round_to, max_ratio=cfg.max_ratio, ignored_layers=cfg.ignored_layers, spec=req.spec,
        nhwc=target.export.nhwc,
    )  # fmt: skip
    result.plan.model = req.spec
    return Planned(
        plan=result.plan, model=result.model, kind="latency", budget=result.target_fraction, macs=result.macs,
        params=result.params, base_macs=result.base_macs, base_params=result.base_params, method=cfg.method,
        details={"latency": result.summary()}, measured_fraction=result.measured_fraction,
    )  # fmt: skip


def _measure(target: Target, compiler: PlanCompiler, field: str) -> tuple[Callable[[Plan | None], float], str]:
    """The tool's bytes for a plan's network (None: unpruned), and the tool's name."""
    if field == "arena_kib":
        shape = tuple(compiler.example.shape)
        if compiler.nhwc and len(shape) == 4:
            shape = (shape[0], shape[2], shape[3], shape[1])
        arena = target.tflm.arena_kib * 1024
        return lambda plan: float(run_tflm(compiler.tflite(plan), np.zeros(shape, np.int8), arena).arena_bytes), (
            "TFLM arena"
        )
    if target.npu.enabled:
        key = "sram_bytes" if field == "sram_kib" else "storage_bytes"
        name = f"Vela {'SRAM' if field == 'sram_kib' else 'flash'} ({target.npu.accelerator})"
        return lambda plan: float(getattr(compiler.estimate(plan, target.npu), key)), name
    return lambda plan: float(compiler.tflite(plan).stat().st_size), "flash (.tflite file)"


def prune_to_memory(req: Request, target: Target) -> Planned:
    """A pruned copy whose device memory (``prune.sram_kib``, ``flash_kib`` or ``arena_kib``), as the embedded
    tool reports it for the plan's network, is within the budget."""
    cfg = req.cfg
    field, kib = cfg.memory  # type: ignore[misc]
    groups = prunable_groups(req.model, req.example, cfg.ignored_layers)
    units = find_units(req.model, req.example, groups)
    compiler = PlanCompiler(req.model, req.example, _calibration(req), units, target.export.nhwc)
    try:
        measure, tool = _measure(target, compiler, field)
        base = measure(None)
        search = None
        if field == "flash_kib":
            raw = weights_kept(units)
        else:
            data = compiler.converted(None).read_bytes()
            tensors, count = activations(data, compiler.out_axes()), len(operators(data))
            model = arena_bytes if field == "arena_kib" else peak_activation
            raw, search = model(tensors, count), model(tensors, count, SMOOTH)  # exact layout; smooth price
        cost = MemoryModel(raw, {g.root: g.width for g in groups}, base, search)
        sens = req.scan() if cfg.method == "sensitivity" else None
        result = plan_to_memory(
            req.model, req.example, sens, field, kib * 1024, cost, measure, tool, importance=req.criterion(),
            round_to=cfg.round_to, max_ratio=cfg.max_ratio, ignored_layers=cfg.ignored_layers, spec=req.spec,
            units=units,
        )  # fmt: skip
    finally:
        compiler.close()
    result.plan.model = req.spec
    return Planned(
        plan=result.plan, model=result.model, kind="memory", budget=result.budget_bytes / result.base_bytes,
        macs=result.macs, params=result.params, base_macs=result.base_macs, base_params=result.base_params,
        method=cfg.method, details={"memory": result.summary()}, measured_fraction=result.fraction,
    )  # fmt: skip


def prune_on_device(req: Request, target: Target) -> Planned:
    """The embedded tool's budget: memory when one is set, else the NPU latency budget."""
    return prune_to_memory(req, target) if req.cfg.memory is not None else prune_on_npu(req, target)


def device_notes(planned: Planned) -> list[str]:
    """Report notes for an embedded budget the planner could not meet."""
    memory = planned.details.get("memory")
    if memory is None or memory["met"]:
        return []
    field = memory["budget"]["field"]
    return [
        f"the prune.{field} budget {memory['budget']['kib']:g} KiB was missed: the closest plan measured"
        f" {memory['measured_kib']:.1f} KiB ({memory['tool']}) after {len(memory['attempts'])} plan(s)"
    ]
