"""Plans of one model made into int8 files and compiled by Vela: what the NPU planner measures.

The unpruned model is exported as the NPU target deploys it (full-integer int8, int8 input and output, calibrated
on choosing samples; no parity check: these files are never shipped). A plan's network is that file sliced to the
kept channels (:mod:`edgeprune.embedded.slicing`, about a second) or, where the slicer cannot follow the graph,
its pruned copy converted again. Files are kept in ``$EDGEPRUNE_CACHE/npu`` by model, plan and calibration (a
second accelerator or run compiles them without converting again); Vela's estimate is deterministic.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeprune.atomic import atomic_path
from edgeprune.cache import cache_dir
from edgeprune.config import NpuConfig
from edgeprune.embedded.opmap import attribute
from edgeprune.embedded.records import NpuEstimate
from edgeprune.embedded.slicing import (
    LAYER_OPERATORS,
    SLICER_VERSION,
    OutKeep,
    SliceError,
    operators,
    slice_tflite,
)
from edgeprune.embedded.vela import compile_for_npu
from edgeprune.hashing import json_hash, state_dict_hash
from edgeprune.latency.units import Axis, Unit
from edgeprune.logs import quiet
from edgeprune.prune import Plan, apply_plan


class PlanCompiler:
    """Exports pruned copies of ``model`` as int8 ``.tflite`` (cached per plan) and compiles them for an NPU."""

    def __init__(
        self,
        model: nn.Module,
        example: torch.Tensor,
        calibration: torch.Tensor,
        units: list[Unit] | None = None,
        nhwc: bool = False,
    ) -> None:
        """``units`` (:func:`edgeprune.latency.units.find_units`) let plans be sliced from the unpruned file; without
        them every plan is converted. ``nhwc``: channels-last input, as the target exports it."""
        self.model, self.example, self.calibration, self.units = model.eval(), example, calibration, units
        self.nhwc = nhwc
        key = {
            "model": state_dict_hash(model, with_architecture=True),
            "input": list(example.shape),
            "calibration": json_hash(calibration.numpy().round(6).tolist()),
            "export": f"int8/int8-io/{'nhwc' if nhwc else 'nchw'}/v1",
        }
        self.key = json_hash(key)
        root = cache_dir("npu")
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="edgeprune-npu-")
            root = Path(self._scratch.name)
        self.folder = root / self.key
        self.exported = 0  # files converted by this compiler (not found in the cache)
        self.sliced = 0  # plans sliced from the unpruned file
        self._axes: list[Axis | None] | None = None

    def plan_key(self, plan: Plan | None) -> str:
        return "unpruned" if plan is None else json_hash(json.dumps(plan.to_dict(), sort_keys=True))

    def tflite(self, plan: Plan | None) -> Path:
        """The int8 file of ``plan``'s network (None: the unpruned model): sliced when it can be, else converted."""
        if plan is None or self.units is None:
            return self.converted(plan)
        path = self.folder / f"{self.plan_key(plan)}.sliced-v{SLICER_VERSION}.tflite"
        if path.is_file():
            return path
        unpruned = self.converted(None).read_bytes()
        try:
            data = slice_tflite(unpruned, self._out_keep(plan, unpruned))
        except SliceError:
            return self.converted(plan)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        self.sliced += 1
        return path

    def out_axes(self) -> list[Axis | None]:
        """Per operator of the unpruned file: the axis (group) setting its output channels when it is a layer."""
        if self._axes is None:
            ops = operators(self.converted(None).read_bytes())
            owners = attribute([(name, op in LAYER_OPERATORS, True) for op, name in ops], self.units or [], self.model)
            units = {u.name: u for u in self.units or []}
            self._axes = [
                units[o].out_axis if o in units and op in LAYER_OPERATORS else None
                for (op, _), o in zip(ops, owners, strict=True)
            ]
        return self._axes

    def _out_keep(self, plan: Plan, unpruned: bytes) -> OutKeep:
        """Operator index -> the output indices its layer's group keeps under ``plan``."""
        axes = self.out_axes()
        kept = {g.root: np.array(g.keep, dtype=np.int64) for g in plan.groups}

        def out_keep(index: int, name: str) -> np.ndarray | None:
            axis = axes[index]
            if axis is None or axis.root not in kept:
                return None
            if axis.scale != 1:
                raise SliceError(f"{name}: each kept index of group {axis.root} spreads over {axis.scale} channels")
            return kept[axis.root]

        return out_keep

    def converted(self, plan: Plan | None) -> Path:
        """The int8 file of ``plan``'s pruned copy (None: the unpruned model) converted again, on first use."""
        from edgeprune.export.tflite import export

        path = self.folder / f"{self.plan_key(plan)}.tflite"
        if path.is_file():
            return path
        model = self.model if plan is None else apply_plan(copy.deepcopy(self.model).eval(), plan, self.example)
        with atomic_path(path) as tmp, quiet():
            export(
                model.eval(), self.example, tmp, "int8", calibration=self.calibration, io_dtype="int8", nhwc=self.nhwc
            )
        self.exported += 1
        return path

    def estimate(self, plan: Plan | None, npu: NpuConfig) -> NpuEstimate:
        """Vela's estimate of ``plan`` (None: unpruned) on ``npu``."""
        return compile_for_npu(self.tflite(plan), npu)

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
