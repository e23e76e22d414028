"""Which torch module each of Vela's operators comes from, so its cycles land in the right latency unit.

litert-torch names an operator's output tensor after the module stack that produced it: ``;;``-separated paths,
each a ``/``-joined list of ``<module class>_<attribute>`` segments from the root (``...EdgeNet/
torch.nn.modules.container.Sequential_stem/torch.nn.modules.conv.Conv2d_0;2``: module ``stem.0``; fused
BatchNorms and activations add their own paths). Vela names each operator after that tensor. A layer operator
(Conv2D, DepthwiseConv2D, FullyConnected) goes to the unit whose layer it names (else, in order, to the next layer
unit not yet matched); any other operator (Add, Pad, Mean, ...) to a unit whose modules it names (a pooling unit,
the activation after a residual add), else to the unit of the operator before it, whose output channels it
shares (a residual add after its block's last conv). Operators before the first unit are fixed cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from edgeprune.embedded.records import NpuOp
from edgeprune.latency.units import LAYERS, Unit

LAYER_OPS = ("Conv2D", "DepthwiseConv2D", "FullyConnected", "TransposeConv2D")
FIXED = ""  # the unit name of operators no unit owns


def segment_names(model: nn.Module) -> dict[str, str]:
    """Module path -> the segment litert-torch writes for it (``<module>.<class>_<attribute>``)."""
    return {
        path: f"{type(m).__module__}.{type(m).__qualname__}_{path.rsplit('.', 1)[-1]}"
        for path, m in model.named_modules()
        if path
    }


def mentioned_modules(name: str, model: nn.Module, segments: dict[str, str] | None = None) -> list[str]:
    """The module paths an operator's name spells, in order (unknown segments end a path)."""
    segments = segments if segments is not None else segment_names(model)
    children: dict[str, dict[str, str]] = {}
    for path, segment in segments.items():
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        children.setdefault(parent, {})[segment] = path
    found: list[str] = []
    for chain in name.split(";;"):
        parts = chain.split(";")[0].split("/")
        parent = ""
        for part in parts[1:]:  # the first segment is the root module's class
            path = children.get(parent, {}).get(part)
            if path is None:
                break
            parent = path
        if parent and parent not in found:
            found.append(parent)
    return found


def _is_layer_unit(unit: Unit, model: nn.Module) -> bool:
    return isinstance(model.get_submodule(unit.modules[0]), LAYERS)


def attribute(ops: Sequence[tuple[str, bool, bool]], units: Sequence[Unit], model: nn.Module) -> list[str]:
    """The unit name of every operator given as (name, is a layer operator, has MACs), in graph order
    (:data:`FIXED` for none)."""
    segments = segment_names(model)
    layer_units = [u for u in units if _is_layer_unit(u, model)]
    by_head = {u.modules[0]: u for u in layer_units}
    by_module = {m: u for u in units for m in u.modules}
    used: set[str] = set()
    owner: list[str] = []
    previous = FIXED
    for name, is_layer, has_macs in ops:
        mentioned = mentioned_modules(name, model, segments)
        unit: Unit | None = None
        if is_layer:
            named = [by_head[m] for m in mentioned if m in by_head and by_head[m].name not in used]
            named = named or [by_head[m] for m in mentioned if m in by_head]
            unit = named[0] if named else next((u for u in layer_units if u.name not in used), None)
            if unit is not None and has_macs:
                used.add(unit.name)
        else:
            unit = next((by_module[m] for m in reversed(mentioned) if m in by_module), None)
        owner.append(unit.name if unit is not None else previous)
        previous = owner[-1]
    return owner


def attribute_ops(ops: Sequence[NpuOp], units: Sequence[Unit], model: nn.Module) -> list[str]:
    """The unit name of every operator of Vela's per-layer table (:data:`FIXED` for none), in Vela's order."""
    return attribute([(op.name, op.original in LAYER_OPS, op.macs > 0) for op in ops], units, model)


def unit_cycles(ops: Sequence[NpuOp], owners: Sequence[str]) -> dict[str, int]:
    """Cycles per unit name (``""``: operators no unit owns)."""
    totals: dict[str, int] = {}
    for op, name in zip(ops, owners, strict=True):
        totals[name] = totals.get(name, 0) + op.cycles
    return totals
