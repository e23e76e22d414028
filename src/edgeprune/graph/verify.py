"""Verified groups: a group is prunable only if pruning it works.

Each candidate (channel/neuron unit or head group) is pruned on a deep copy by one ``round_to`` step per cell
(indices spread over the cell, not just its tail, so an off-by-offset mapping shows), every layer is cut once
(:mod:`edgeprune.graph.surgery`), and the copy runs a forward pass whose output shapes must equal the original's.
Candidates are tried together; a failing set is split in halves, each half tried on top of what already passed,
so k bad groups among n cost about k log n forward passes. Results are cached per model structure (module tree,
parameter shapes), input shape, ``round_to`` and ignored layers, so planners calling ``make_plan`` repeatedly
verify once. The whole check has a time bound: candidates not settled in time are left unpruned, with that reason.
Images are checked at half the height and width when the unpruned model gives the same output shapes there
(:func:`verification_input`): channel counts do not depend on the resolution, and the forward passes cost a quarter.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph import cache as graph_cache
from edgeprune.graph.depgraph import GroupInfo
from edgeprune.graph.record import output_shapes
from edgeprune.graph.surgery import (
    execute,
    follow_cut,
    prune_head_group,
    removals,
    retarget,
    sync_known_attributes,
)
from edgeprune.graph.trace import TraceError, run_traced
from edgeprune.graph.units import UnitGroup
from edgeprune.progress import progress_bar

VERIFY_SECONDS = 300.0  # time bound of one model's verification
_CACHE: OrderedDict[str, dict[str, Verdict]] = OrderedDict()
_CACHE_SIZE = 32


@dataclass(frozen=True)
class Verdict:
    """Whether a group can be pruned (and why not). ``with_heads``: attention layers that must lose one head per
    ``head_dim`` channels this group loses (their forward derives the head dim from the width);
    ``with_group``: for such a head group, the group it is pruned with."""

    ok: bool
    reason: str = ""
    with_heads: tuple[str, ...] = ()
    head_dim: int = 0
    with_group: str = ""


@dataclass(frozen=True)
class Candidate:
    """One group to verify and the indices (unit numbering, or heads) it drops in the check."""

    info: GroupInfo
    group: Any
    drop: tuple[int, ...]


def structure_key(model: nn.Module, example_input: torch.Tensor, round_to: int, ignored: Sequence[str]) -> str:
    """Hash of what verification depends on: module tree, parameter/buffer shapes, input shape, settings."""
    return graph_cache.structure_key(model, example_input, round_to, sorted(ignored))


def step_drop(unit: UnitGroup, round_to: int) -> tuple[int, ...] | None:
    """One ``round_to`` step (in whole bundles) removed from every cell, spread over the cell; None if a cell has
    no bundle to spare."""
    by_cell: dict[int, list[list[int]]] = {}
    for members in unit.bundle_members().values():
        by_cell.setdefault(unit.cells[members[0]], []).append(members)
    size = unit.bundle_size
    step = max(1, round_to // math.gcd(round_to, len(by_cell) * size))
    drop: list[int] = []
    for bundles in by_cell.values():
        if len(bundles) <= step:
            return None
        stride = len(bundles) / step
        for k in range(step):
            drop += bundles[min(len(bundles) - 1, int(stride * k + stride / 2))]
    return tuple(sorted(drop))


def candidates(
    groups: list[tuple[GroupInfo, Any]], heads: list[tuple[GroupInfo, Any]], round_to: int
) -> tuple[list[Candidate], dict[str, str]]:
    """Groups that can be checked, and ``root -> reason`` for prunable ones too narrow to prune one step."""
    found, narrow = [], {}
    for info, unit in groups:
        if not info.prunable:
            continue
        drop = step_drop(unit, round_to)
        if drop is None:
            narrow[info.root] = f"narrower than one round_to step ({round_to}) per slice"
            continue
        found.append(Candidate(info, unit, drop))
    for info, group in heads:
        if not info.prunable:
            continue
        step = round_to // math.gcd(round_to, info.extra.get("head_dim", 1))
        if info.width <= step:
            narrow[info.root] = f"{info.width} heads: fewer than one round_to step ({step} heads) to remove"
            continue
        found.append(Candidate(info, group, tuple(range(info.width - step, info.width))))
    return found, narrow


def _outputs(model: nn.Module, example_input: torch.Tensor, stage: str) -> list[tuple[int, ...]]:
    """Shapes of every tensor the model returns (nested tuples, lists and dicts flattened as the trace does)."""
    with torch.no_grad():
        out = run_traced(model, lambda: model(example_input), stage=stage)
    return output_shapes(out)


def changed_outputs(reference: Sequence[tuple[int, ...]], shapes: Sequence[tuple[int, ...]]) -> str:
    """Why a pruned copy's outputs differ from the unpruned model's, in words a user can act on."""
    if len(shapes) != len(reference):
        return (
            f"the model returned {len(reference)} tensors when traced and {len(shapes)} on a later call"
            f" ({reference} then {shapes}): its forward returns a different structure with its mode or state"
            " (a detection head that switches output form?), not because of the cut; give edgeprune the form the"
            " model is exported in (one fixed set of tensors; a YOLO DetectionModel or torchvision detector is"
            " wrapped automatically through --model)"
        )
    changed = [(i, a, b) for i, (a, b) in enumerate(zip(reference, shapes, strict=True)) if a != b]
    parts = ", ".join(f"output {i} {a} -> {b}" for i, a, b in changed[:3])
    return f"output shapes changed ({parts}): the cut reaches a model output; add the layer producing it to ignored"


# what a pruned copy's forward may raise when the cut does not fit the model
RUN_ERRORS = (EdgepruneError, RuntimeError, ValueError, AssertionError, IndexError, TypeError, KeyError)
MIN_SIDE = 32  # images smaller than this on a side are verified at full size


def verification_input(model: nn.Module, example_input: torch.Tensor, reference: Sequence[Any]) -> torch.Tensor:
    """``example_input`` cropped to half its height and width when the unpruned ``model`` runs on that and gives
    the ``reference`` output shapes (a classifier with global pooling); else ``example_input`` itself (fixed
    position embeddings, windows, dense outputs at the input size)."""
    if example_input.dim() != 4 or min(example_input.shape[-2:]) < 2 * MIN_SIDE:
        return example_input
    h, w = example_input.shape[-2] // 2, example_input.shape[-1] // 2
    small = example_input[..., :h, :w].contiguous()
    try:
        if _outputs(model, small, "checking a half-size input") == list(reference):
            return small
    except RUN_ERRORS:
        pass
    return example_input


def prune_copy(dg: Any, model: nn.Module, chosen: Sequence[Candidate]) -> nn.Module:
    """A deep copy of ``model`` with every candidate's drop applied (layers cut once, heads after)."""
    work = copy.deepcopy(model)
    merged = removals([(c.group, list(c.drop)) for c in chosen if c.info.kind != "head"])
    view, remapped = retarget(dg, model, work, merged)
    execute(view, work, remapped)
    follow_cut(view, work, remapped)
    for c in chosen:
        if c.info.kind == "head":
            keep = [h for h in range(c.info.width) if h not in set(c.drop)]
            prune_head_group(work, c.info.root, keep, c.info.extra.get("qkv"))
    sync_known_attributes(work)
    return work


class _Checker:
    def __init__(self, dg: Any, model: nn.Module, example_input: torch.Tensor, deadline: float, bar: Any) -> None:
        self.dg, self.model, self.x, self.deadline, self.bar = dg, model, example_input, deadline, bar
        self.reference = list(dg.output_shapes)
        self.verdicts: dict[str, Verdict] = {}

    def works(self, chosen: Sequence[Candidate]) -> str:
        """'' if pruning all of ``chosen`` at once leaves a model that runs with the same output shapes."""
        try:
            work = prune_copy(self.dg, self.model, chosen)
            work.eval()
            shapes = _outputs(work, self.x, "running the pruned copy")
        except RUN_ERRORS as exc:
            if isinstance(exc, TraceError):
                return exc.reason  # the planner leaves a failing group alone itself: no advice needed
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if shapes != self.reference:
            return changed_outputs(self.reference, shapes)
        return ""

    def settle(self, base: list[Candidate], todo: list[Candidate]) -> list[Candidate]:
        """Candidates of ``todo`` that work on top of ``base`` (which works); verdicts recorded for all."""
        if not todo:
            return []
        if time.process_time() > self.deadline:
            for c in todo:
                self.verdicts[c.info.root] = Verdict(False, "verification did not finish in time; left unpruned")
            self.bar.advance(len(todo))
            return []
        why = self.works([*base, *todo])
        if not why:
            for c in todo:
                self.verdicts[c.info.root] = Verdict(True)
            self.bar.advance(len(todo))
            return list(todo)
        if len(todo) == 1:
            self.verdicts[todo[0].info.root] = Verdict(False, f"pruning it fails: {why}")
            self.bar.advance(1)
            return []
        suspects = _suspects(todo, why)
        if 0 < len(suspects) < len(todo):  # the error names a module: settle the others first, then the suspects
            others = [c for c in todo if c not in suspects]
            ok = self.settle(base, others)
            return ok + self.settle([*base, *ok], suspects)
        half = len(todo) // 2
        ok = self.settle(base, todo[:half])
        return ok + self.settle([*base, *ok], todo[half:])

    def couple(self, passed: list[Candidate], found: list[Candidate]) -> None:
        """A group that failed alone may work together with one head of each attention reading it, per head dim
        of channels: attention that reshapes into ``(num_heads, C // num_heads)`` keeps its head dim only if the
        width ``C`` and the heads shrink together (CaiT, ConViT, XCiT, torchvision's Swin)."""
        heads = [c for c in found if c.info.kind == "head" and c.info.extra.get("qkv") is not None]
        for c in found:
            if c.info.kind == "head" or self.verdicts.get(c.info.root, Verdict(True)).ok:
                continue
            if time.process_time() > self.deadline:
                return
            readers = [h for h in heads if set(h.info.members) & set(c.info.consumers)]
            dims = {h.info.extra["qkv"].head_dim for h in readers}
            if not readers or len(dims) != 1 or any(h.info.extra["qkv"].inner != c.info.width for h in readers):
                continue
            d = dims.pop()
            stride = c.info.width / d
            drop = tuple(sorted({min(c.info.width - 1, int(stride * k + stride / 2)) for k in range(d)}))
            trial = [
                Candidate(c.info, c.group, drop),
                *(Candidate(h.info, h.group, (h.info.width - 1,)) for h in readers),
            ]
            if self.works([*passed, *trial]):
                continue
            roots = tuple(h.info.root for h in readers)
            self.verdicts[c.info.root] = Verdict(True, "", with_heads=roots, head_dim=d)
            for h in readers:
                why = f"pruned with group '{c.info.root}' (its forward derives the head dim from that width)"
                self.verdicts[h.info.root] = Verdict(False, why, with_group=c.info.root)
            passed = [*passed, *trial]


def _suspects(todo: list[Candidate], why: str) -> list[Candidate]:
    """Candidates with a layer in (or around) the module a failure message names (``module 'a.b'``)."""
    match = re.search(r"module '([^']+)'", why)
    if match is None:
        return []
    failing = match.group(1)

    def near(path: str) -> bool:
        return path == failing or path.startswith(failing + ".") or failing.startswith(path + ".")

    return [c for c in todo if any(near(p) for p in [c.info.root, *c.info.members, *c.info.consumers])]


def verify(
    dg: Any,
    model: nn.Module,
    example_input: torch.Tensor,
    groups: list[tuple[GroupInfo, Any]],
    heads: list[tuple[GroupInfo, Any]],
    round_to: int = 1,
    ignored: Sequence[str] = (),
    seconds: float = VERIFY_SECONDS,
    check_input: torch.Tensor | None = None,
) -> dict[str, Verdict]:
    """``root -> Verdict`` for every group and head group that analysis allowed; cached. The pruned copies run on
    ``check_input`` (see :func:`verification_input`; found here when None)."""
    key = structure_key(model, example_input, round_to, ignored)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return dict(_CACHE[key])
    found, narrow = candidates(groups, heads, round_to)
    verdicts = {root: Verdict(False, why) for root, why in narrow.items()}
    was = model.training
    model.eval()
    try:
        with progress_bar("verifying groups", total=len(found)) as bar:
            if check_input is None and found:
                check_input = verification_input(model, example_input, dg.output_shapes)
            x = example_input if check_input is None else check_input
            checker = _Checker(dg, model, x, time.process_time() + seconds, bar)
            passed = checker.settle([], found)
            checker.couple(passed, found)
    finally:
        model.train(was)
    verdicts.update(checker.verdicts)
    _CACHE[key] = verdicts
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return dict(verdicts)


def apply_verdicts(infos: list[tuple[GroupInfo, Any]], verdicts: dict[str, Verdict]) -> None:
    """Mark each group verified or not prunable (with the one-line reason), in place; a group pruned together
    with heads gets ``extra["with_heads"]`` and ``extra["head_dim"]``."""
    for info, _ in infos:
        verdict = verdicts.get(info.root)
        if verdict is None:
            continue
        info.verified = verdict.ok
        if verdict.with_heads:
            info.extra["with_heads"], info.extra["head_dim"] = list(verdict.with_heads), verdict.head_dim
            info.coupling.append("heads of " + ", ".join(verdict.with_heads))
        if verdict.with_group:
            info.extra["with_group"] = verdict.with_group
        if not verdict.ok:
            info.prunable = False
            info.note = verdict.reason
