"""Latency units: the pieces of a network whose latency a table records, and the groups that set their widths.

One traced forward pass lists every leaf module call in execution order. A Conv/Linear call starts a unit and
absorbs the BatchNorm/activation calls that consume its output directly (the exporters fold or fuse those into
the layer, so they are measured together); pooling and activations standing alone are units of their own.
Each unit has up to two axes, the coupled groups whose kept width sets its input and output channels (a
depthwise conv or a standalone op has one: input and output are the same channels). Functional ops (residual
adds, SE multiplies, flatten) are not units; the whole-network model's fitted terms carry them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeprune.graph.cost import layer_macs
from edgeprune.graph.depgraph import GroupInfo, build_graph, iter_groups, output_layers, resolve_layers
from edgeprune.graph.hooks import forward_with_hooks

LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
NORMS = (nn.modules.batchnorm._BatchNorm,)
ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.SiLU,
    nn.GELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
)
POOLS = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
)
FREE = (nn.Dropout, nn.Identity, nn.Flatten)  # no work at inference


@dataclass(frozen=True)
class Axis:
    """A group whose kept count sets one channel dimension: channels = kept count x ``scale``."""

    root: str
    width: int
    channel_groups: int
    scale: int = 1  # e.g. a Linear after flatten(C x H x W) has H*W inputs per kept channel


@dataclass(frozen=True)
class Unit:
    """Consecutive leaf calls measured as one micro-model, and the axes that set its channels."""

    name: str  # "<first module path>" or "<path>#<call>" for a module called more than once
    modules: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_axis: Axis | None  # None: input channels fixed (network input, unprunable producer) or tied
    out_axis: Axis | None  # None: output channels fixed (classifier head, unprunable group)
    tied: bool  # input channels follow the output axis (depthwise conv, pooling, standalone activation)
    macs: int  # at full width
    params: int = 0  # weights of its conv/linear layer at full width (what a forward pass streams from memory)

    def share(self, cin: int, cout: int) -> float:
        """The part of its full-width MACs and weights the unit keeps at ``cin`` / ``cout`` channels."""
        return (cout / self.out_shape[1]) * (1.0 if self.tied else cin / self.in_shape[1])

    def params_at(self, kin: int | None, kout: int | None) -> float:
        """Weights of the layer when the axes keep ``kin`` / ``kout`` indices."""
        return self.params * self.share(*self.channels(kin, kout))

    def channels(self, kin: int | None, kout: int | None) -> tuple[int, int]:
        """(input, output) channel counts when the axes keep ``kin`` / ``kout`` indices (None: full)."""
        cout = self.out_shape[1] if kout is None or self.out_axis is None else kout * self.out_axis.scale
        if self.tied:
            return cout * self.in_shape[1] // self.out_shape[1], cout
        cin = self.in_shape[1] if kin is None or self.in_axis is None else kin * self.in_axis.scale
        return cin, cout

    @property
    def axes(self) -> tuple[Axis | None, Axis | None]:
        """(input axis, output axis) as the table varies them; a tied unit varies its output axis only."""
        return (None if self.tied else self.in_axis), self.out_axis


@dataclass
class _Call:
    path: str
    module: nn.Module
    inp: torch.Tensor
    out: torch.Tensor
    in_version: int  # the input's version counter before the call (an in-place add since its producer bumps it)
    out_version: int


def _record_calls(model: nn.Module, example: torch.Tensor) -> list[_Call]:
    names = {m: n for n, m in model.named_modules()}
    calls: list[_Call] = []
    versions: list[int] = []

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        versions.append(args[0]._version if args and isinstance(args[0], torch.Tensor) else -1)

    def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        before = versions.pop()
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            # tensors kept alive, so ids stay unique
            calls.append(_Call(names[module], module, args[0], out, before, out._version))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(pre) for m in leaves] + [m.register_forward_hook(hook) for m in leaves]
    forward_with_hooks(model, example, handles)
    return calls


def prunable_groups(model: nn.Module, example: torch.Tensor, ignored_layers: Iterable[str] = ()) -> list[GroupInfo]:
    """The channel/neuron groups a plan may shrink (classifier heads and ``ignored_layers`` excluded)."""
    ignored = resolve_layers(model, [*output_layers(model, example), *ignored_layers])
    dg = build_graph(model, example)
    return [info for info, _ in iter_groups(dg, model, ignored) if info.prunable and info.kind != "embedding"]


def _axis(info: GroupInfo | None, channels: int) -> Axis | None:
    if info is None or channels % info.width:
        return None
    return Axis(info.root, info.width, info.channel_groups, channels // info.width)


def _is_depthwise(module: nn.Module) -> bool:
    conv = isinstance(module, nn.modules.conv._ConvNd)
    return conv and 1 < module.groups == module.in_channels == module.out_channels


def find_units(model: nn.Module, example: torch.Tensor, groups: Iterable[GroupInfo]) -> list[Unit]:
    """Every latency unit of ``model`` on ``example``, in execution order."""
    groups = list(groups)
    out_of = {m: g for g in groups for m in g.members}
    in_of = {c: g for g in groups for c in g.consumers}
    macs = layer_macs(model, example)
    calls = _record_calls(model, example)
    uses: dict[str, int] = {}
    axis_of: dict[int, Axis | None] = {}  # id(output tensor) -> axis of its channels
    produced: list[tuple[torch.Tensor, Axis | None]] = []
    units: list[Unit] = []
    chain: dict[str, Any] | None = None  # the open Conv/Linear unit, extended by the calls consuming its output
    chain_out = (-1, -1)  # (id, version) of the open unit's output

    def source_axis(t: torch.Tensor) -> Axis | None:
        if id(t) in axis_of:
            return axis_of[id(t)]
        for tensor, axis in reversed(produced):  # made by a functional op (add): the last same-shaped output
            if tensor.shape == t.shape:
                return axis
        return None

    def note(t: torch.Tensor, axis: Axis | None) -> None:
        axis_of[id(t)] = axis
        produced.append((t, axis))

    for call in calls:
        n = uses[call.path] = uses.get(call.path, 0) + 1
        name = call.path if n == 1 else f"{call.path}#{n}"
        m = call.module
        same_channels = call.inp.dim() >= 2 and call.inp.shape[1:2] == call.out.shape[1:2]
        direct = chain is not None and (id(call.inp), call.in_version) == chain_out
        if direct and same_channels and isinstance(m, (*NORMS, *ACTIVATIONS, *FREE)):
            chain["modules"] += (call.path,)
            chain["out_shape"] = tuple(call.out.shape)
            chain_out = (id(call.out), call.out_version)
            note(call.out, chain["out_axis"])
            continue
        if chain is not None:
            units.append(Unit(**chain))
            chain, chain_out = None, (-1, -1)
        if isinstance(m, LAYERS) and call.inp.dim() >= 2:
            depthwise = _is_depthwise(m)
            out_axis = _axis(out_of.get(call.path), call.out.shape[1])
            in_axis = out_axis if depthwise else _axis(in_of.get(call.path), call.inp.shape[1])
            chain = {
                "name": name,
                "modules": (call.path,),
                "in_shape": tuple(call.inp.shape),
                "out_shape": tuple(call.out.shape),
                "in_axis": in_axis,
                "out_axis": out_axis,
                "tied": depthwise,
                "macs": macs.get(call.path, 0) // uses[call.path],
                "params": sum(p.numel() for p in m.parameters(recurse=False)),
            }
            chain_out = (id(call.out), call.out_version)
            note(call.out, out_axis)
        elif isinstance(m, (*POOLS, *ACTIVATIONS, *NORMS)) and call.inp.dim() >= 2:
            axis = source_axis(call.inp) if call.out.shape[1] == call.inp.shape[1] else None
            units.append(Unit(name, (call.path,), tuple(call.inp.shape), tuple(call.out.shape), axis, axis, True, 0))
            note(call.out, axis)
        else:
            note(call.out, source_axis(call.inp) if same_channels else None)
    if chain is not None:
        units.append(Unit(**chain))
    return units


def under(path: str, blocks: Iterable[str]) -> bool:
    """True if ``path`` is one of ``blocks`` or inside one."""
    return any(path == b or path.startswith(b + ".") for b in blocks)
