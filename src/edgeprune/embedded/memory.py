"""Device memory as costs the planner budgets: where the peak activation lives, and the weights a plan keeps.

Activations. An interpreter keeps a tensor from the operator that writes it to the last one that reads it (the
input from the start, the output to the end); TFLM's arena head and Vela's SRAM hold, at the worst operator, every
tensor alive there. From the unpruned int8 file (operators in order, each activation tensor's bytes and lifetime)
and the group whose kept count sets each tensor's channels (followed through the graph like
:mod:`edgeprune.embedded.slicing`), the peak at any widths is ``max over operators of the live bytes``. Cutting a
group only lowers that peak where the group's tensors are alive at the worst operator: the allocator, which
spends damage per byte saved, cuts where the peak activation lives and nowhere else.

Weights. The flash a plan needs follows the weights its layers keep (:meth:`Unit.params_at`).

Both predict what the tool will report as the model plus the offset the tool showed on the unpruned network
(TFLM's persistent tail, Vela's command stream), which ranks plans; what the model misses on a pruned network
(TFLM's greedy planner packs a pruned chain less tightly than its peak, measured here: 12.2 KB of head where 7.6 KB
were alive at once) corrects the planner's search target (:mod:`edgeprune.embedded.memplan`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeprune.embedded.slicing import CHANNELWISE, DTYPES, ELEMENTWISE, LAYER_OPERATORS, TfliteGraph
from edgeprune.errors import EdgepruneError
from edgeprune.latency.units import Axis, Unit
from edgeprune.prune import Plan

KIND = "memory"


@dataclass(frozen=True)
class Activation:
    """One activation tensor of the unpruned file: its bytes, when it lives, which group sets its channels."""

    name: str
    nbytes: int
    first: int  # operator writing it (-1: a graph input)
    last: int  # last operator reading it (number of operators: a graph output)
    root: str | None  # group whose kept count scales it (None: fixed)
    width: int  # that group's full width
    channels: int = 0  # its last (channel) dimension
    layer: bool = False  # written by a conv / depthwise / fully-connected layer


def activations(data: bytes, out_axes: Sequence[Axis | None]) -> list[Activation]:
    """Every non-constant tensor of the first subgraph with its lifetime and the group setting its channels."""
    g = TfliteGraph(data)
    graph = g.graph
    root: dict[int, Axis | None] = {}
    layers: set[int] = set()
    first: dict[int, int] = {int(i): -1 for i in graph.inputs}
    last: dict[int, int] = {}
    for k, op in enumerate(graph.operators):
        name = g.op_names[op.opcodeIndex]
        inputs = [int(i) for i in op.inputs if i >= 0 and not g.is_const(int(i))]
        for i in inputs:
            last[i] = k
        source = root.get(inputs[0]) if inputs else None
        if name in LAYER_OPERATORS:
            out_axis = out_axes[k]
            weight = [int(d) for d in g.tensor(int(op.inputs[1])).shape]
            channels = int(g.tensor(inputs[0]).shape[-1]) if inputs else 0
            tied = name == "DEPTHWISE_CONV_2D" and weight[-1] == channels
            axis = source if tied else out_axis
        elif name in CHANNELWISE or name == "RESHAPE":
            axis = source
        elif name in ELEMENTWISE:
            axis = next((root.get(i) for i in inputs if root.get(i) is not None), None)
        else:
            axis = None
        for o in op.outputs:
            first.setdefault(int(o), k)
            root[int(o)] = axis
            if name in LAYER_OPERATORS:
                layers.add(int(o))
    end = len(graph.operators)
    for o in graph.outputs:
        last[int(o)] = end
    tensors = []
    for index, start in first.items():
        t = g.tensor(index)
        axis = root.get(index)
        nbytes = int(np.prod([int(d) for d in t.shape])) * np.dtype(_dtype(t.type)).itemsize
        name = t.name.decode(errors="replace") if t.name else str(index)
        channels = int(t.shape[-1]) if len(t.shape) else 1
        tensors.append(Activation(name, nbytes, start, last.get(index, start), axis.root if axis else None,
                                  axis.width if axis else 0, channels, index in layers))  # fmt: skip
    return tensors


def _dtype(code: int) -> type:
    return DTYPES.get(code, np.int8)


@dataclass
class Fitted:
    """``scale * x + offset`` through the (model, measured) points."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def terms(self) -> tuple[float, float]:
        if not self.points:
            return 1.0, 0.0
        x = np.array([p[0] for p in self.points])
        y = np.array([p[1] for p in self.points])
        if len(self.points) >= 2 and np.ptp(x) > 1e-9:
            scale, offset = np.polyfit(x, y, 1)
            if scale > 0:
                return float(scale), float(offset)
        return 1.0, float(np.mean(y - x))

    def __call__(self, x: float) -> float:
        scale, offset = self.terms()
        return scale * x + offset


class MemoryModel:
    """A device figure (bytes) predicted from a raw model of the kept widths (a ``PlanningCost`` of kind
    ``memory``): ``raw(counts)`` is the peak live activation bytes or the weights kept."""

    kinds = (KIND,)

    def __init__(
        self,
        raw: Callable[[Mapping[str, int]], float],
        widths: Mapping[str, int],
        measured_full: float,
        search: Callable[[Mapping[str, int]], float] | None = None,
    ) -> None:
        """``search``: what the allocator's moves are priced on (default ``raw``); it must never be below ``raw``
        (a smoothed peak lets a cut at a tied operator count)."""
        self.raw, self.widths = raw, dict(widths)
        self.search = search or raw
        self.fit = Fitted([(raw({}), float(measured_full))])
        self.full = float(measured_full)

    def counts_of(self, kept: Mapping[str, float]) -> dict[str, int]:
        return {r: round(f * self.widths[r]) for r, f in kept.items() if r in self.widths}

    def predict(self, counts: Mapping[str, int]) -> float:
        return self.fit(self.raw(counts))

    def fraction(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str = KIND) -> float:
        """The allocator's price: the fitted ``search`` model (never below the prediction)."""
        if kind != KIND:
            raise EdgepruneError(f"the memory model predicts '{KIND}', not '{kind}'")
        return self.fit(self.search(self.counts_of(kept))) / self.full

    def plan_counts(self, plan: Plan) -> dict[str, int]:
        counts = dict(self.widths)
        counts.update({g.root: len(g.keep) for g in plan.groups if g.root in counts})
        return counts

    def exact(self, pruned: object, plan: Plan) -> float:
        return self.predict(self.plan_counts(plan)) / self.full

    def learn(self, plan: Plan, measured: float) -> None:
        """Add the tool's figure for ``plan`` to the fit."""
        self.fit.points.append((self.raw(self.plan_counts(plan)), float(measured)))

    def residual(self, plan: Plan, measured: float) -> float:
        """measured / predicted for ``plan`` (what the search target is corrected by)."""
        return float(measured) / max(self.predict(self.plan_counts(plan)), 1.0)


SMOOTH = 0.05  # the search price adds this share of the mean live bytes to the peak


def peak_activation(
    tensors: Sequence[Activation], operators: int, smooth: float = 0.0
) -> Callable[[Mapping[str, int]], float]:
    """``counts -> max over operators of the bytes alive there`` (+ ``smooth`` x their mean). With two operators
    tied at the peak through different groups, no single cut lowers the max; the mean term still counts it, so a
    greedy allocator can take the two cuts one after the other."""
    steps = np.arange(-1, operators + 1)
    alive = np.array([[t.first <= k <= t.last for t in tensors] for k in steps], dtype=np.float64)
    full = np.array([t.nbytes for t in tensors], dtype=np.float64)

    def peak(counts: Mapping[str, int]) -> float:
        share = np.array([counts.get(t.root, t.width) / t.width if t.root else 1.0 for t in tensors])
        live = alive @ (full * share)
        return float(live.max() + smooth * live.mean())

    return peak


# TFLM int8 kernels keep an int32 multiplier and an int32 shift per output channel (two arrays, 16-byte aligned)
PERSISTENT_ARRAYS = 2
BUFFER_ALIGNMENT = 16  # TFLM aligns every arena buffer to 16 bytes


def greedy_head(sizes: Sequence[int], first: Sequence[int], last: Sequence[int]) -> int:
    """The arena head TFLM's ``GreedyMemoryPlanner`` lays out (tensorflow/lite/micro/memory_planner/
    greedy_memory_planner.cc): buffers largest first (equal sizes: the later tensor first, as its stable reverse
    sort of the reversed list leaves them), each at the lowest offset whose gap between the buffers alive at the
    same time fits it."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], -i))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last), by offset
    head = 0
    for i in order:
        size = sizes[i]
        offset = 0
        for at, taken, f, lst in placed:
            if f > last[i] or first[i] > lst:
                continue
            if at - offset >= size:
                break
            offset = max(offset, at + taken)
        bisect.insort(placed, (offset, size, first[i], last[i]))
        head = max(head, offset + size)
    return head


def arena_bytes(
    tensors: Sequence[Activation], operators: int, smooth: float | None = None
) -> Callable[[Mapping[str, int]], float]:
    """TFLM's arena: the head its greedy planner lays out (:func:`greedy_head`), or with ``smooth`` the peak live
    activation plus ``smooth`` x the mean (a price the allocator can lower one cut at a time), plus what the
    kernels keep per output channel of every layer in the persistent tail (an int32 multiplier and shift per channel,
    each array 16-byte aligned; measured here: the default model's tail is 10,928 bytes, 7,472 of them kernel data
    for 762 output channels)."""
    peak = peak_activation(tensors, operators, smooth) if smooth is not None else None
    outputs = [t for t in tensors if t.layer]
    first = [max(t.first, 0) for t in tensors]
    last = [t.last for t in tensors]

    def channels(t: Activation, counts: Mapping[str, int]) -> int:
        return round(t.channels * (counts.get(t.root, t.width) / t.width if t.root else 1.0))

    def arena(counts: Mapping[str, int]) -> float:
        share = [counts.get(t.root, t.width) / t.width if t.root else 1.0 for t in tensors]
        if peak is not None:
            head = peak(counts)
        else:
            sizes = [_aligned(round(t.nbytes * f)) for t, f in zip(tensors, share, strict=True)]
            head = greedy_head(sizes, first, last)
        return head + sum(PERSISTENT_ARRAYS * _aligned(4 * channels(t, counts)) for t in outputs)

    return arena


def _aligned(n: int) -> int:
    return -(-n // BUFFER_ALIGNMENT) * BUFFER_ALIGNMENT


def weights_kept(units: Sequence[Unit]) -> Callable[[Mapping[str, int]], float]:
    """``counts -> int8 weights the conv/linear layers keep`` (bytes)."""

    def weights(counts: Mapping[str, int]) -> float:
        total = 0.0
        for unit in units:
            a, b = unit.axes
            total += unit.params_at(counts.get(a.root) if a else None, counts.get(b.root) if b else None)
        return total

    return weights
