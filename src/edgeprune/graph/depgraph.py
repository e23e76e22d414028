"""Coupled groups of a model, read from torch-pruning's ``DependencyGraph`` with edgeprune's own index mappings.

A group is a set of layers whose output channels (or neurons) must shrink together. Each group is
named by its *root*: the first Conv/Linear/MultiheadAttention member (in ``named_modules`` order)
whose output dimension the group prunes. The root name is stable across builds of the same
architecture, which is what makes a saved plan replayable.

The graph is traced by torch-pruning, but its index mappings are replaced by exact ones
(:mod:`edgeprune.graph.layout`), groups are collected by a bounded search (:mod:`edgeprune.graph.search`) and
balance constraints between groups make units (:mod:`edgeprune.graph.units`).
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.graph.attention import SplitAttention
from edgeprune.graph.layout import map_graph
from edgeprune.graph.qkv import QkvAttention, find_qkv_attention
from edgeprune.graph.record import Recorder, output_shapes
from edgeprune.graph.search import CoupledGroup, GroupTimeout, Item, collect, root_function
from edgeprune.graph.trace import run_traced
from edgeprune.graph.units import Member, UnitGroup, build_units
from edgeprune.graph.upstream import torch_pruning

ROOT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
GROUP_SECONDS = 10.0  # time bound of one group search; a group not settled in time is left unpruned


@dataclass
class GroupInfo:
    """One coupled group (or joint unit of groups): what shrinks together and why; if it cannot, why not."""

    root: str
    kind: str  # "channel" (conv), "neuron" (linear), "embedding" (attention residual stream), "head"
    width: int
    members: list[str]  # layers whose outputs shrink
    consumers: list[str]  # layers whose inputs shrink
    coupling: list[str]  # reasons the members are tied
    channel_groups: int = 1  # cells of equal size (grouped conv, heads, chunks): each loses the same count
    prunable: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    verified: bool = False  # pruned on a copy at one round_to step and run (see edgeprune.graph.verify)


@functools.cache
def _graph_class() -> type:
    """torch-pruning's DependencyGraph with edgeprune's index mappings and bounded group search."""
    tp = torch_pruning()
    from torch_pruning.dependency import graph as upstream

    class _Skip:  # stands in for torch-pruning's shape inference and index mapping during the build
        @staticmethod
        def update_index_mapping(_graph: Any) -> None:
            return None

        @staticmethod
        def init_shape_information(_graph: Any) -> None:
            return None

    class EdgeGraph(tp.DependencyGraph):
        layout: Any = None
        op_owner: dict[Any, str] = {}  # noqa: RUF012 (set per instance)

        def build_dependency(self, model: nn.Module, example_inputs: Any, **kwargs: Any) -> Any:
            saved = upstream.index_mapping, upstream.shape_infer
            upstream.index_mapping = upstream.shape_infer = _Skip
            try:
                super().build_dependency(model, example_inputs, **kwargs)
            finally:
                upstream.index_mapping, upstream.shape_infer = saved
            return self

        def get_pruning_group(self, module: nn.Module, pruning_fn: Any, idxs: Any) -> CoupledGroup:
            return collect(self, module, [int(i) for i in idxs], time.process_time() + GROUP_SECONDS)

        def _trace(self, model: nn.Module, *args: Any, **kwargs: Any) -> Any:
            module2node = super()._trace(model, *args, **kwargs)
            _promote_functional_linears(model, module2node)
            return module2node

    return EdgeGraph


LINEAR_PRODUCTS = ("AddmmBackward0", "MmBackward0")


def _promote_functional_linears(model: nn.Module, module2node: dict[Any, Any]) -> None:
    """A Linear whose weight is used through ``F.linear(x, layer.weight)`` (torchvision's Swin attention) is never
    called, so the trace has only an anonymous matrix product: make that product the Linear's node, so that
    pruning follows its inputs and outputs like any layer's."""
    tp = torch_pruning()

    owners = {id(m.weight): (n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    traced = [n + "." for n, m in model.named_modules() if m in module2node and n]  # e.g. nn.MultiheadAttention
    for key, node in list(module2node.items()):
        if not isinstance(node.module, tp.ops._ElementWiseOp) or type(node.grad_fn).__name__ not in LINEAR_PRODUCTS:
            continue
        weight = None
        for fn, _ in node.grad_fn.next_functions:
            if fn is not None and type(fn).__name__ == "TBackward0":
                leaf = fn.next_functions[0][0] if fn.next_functions else None
                weight = getattr(leaf, "variable", None)
        found = owners.get(id(weight)) if weight is not None else None
        if found is None or found[1] in module2node or any(found[0].startswith(t) for t in traced):
            continue  # a layer of a module traced as one unit keeps being handled by that module
        name, layer = found
        del module2node[key]
        node.module, node._name, node.type, node.module_class = layer, name, tp.ops.module2type(layer), type(layer)
        module2node[layer] = node


def build_graph(model: nn.Module, example_input: torch.Tensor, blocks: bool = False) -> Any:
    """Trace ``model`` into a dependency graph with exact index mappings; tracing errors name the module and op.

    The traced forward pass also records (:class:`~edgeprune.graph.record.Recorder`): ``graph.cost`` (MACs per
    layer), ``graph.outputs`` (layers producing the model output), ``graph.output_shapes``, ``graph.op_owner``
    (autograd node -> module path) and, with ``blocks``, ``graph.block_calls`` for block discovery."""
    recorder = Recorder(model, blocks=blocks)
    result: list[Any] = []

    def forward(module: nn.Module, x: torch.Tensor) -> Any:
        # one call with the example as given (torch-pruning would first try ``model(*example)``, which unbatches
        # a batch of one and traces convolutions on 3-D inputs)
        out = module(x)
        result.append(out)
        return out

    def build() -> Any:
        with warnings.catch_warnings(), recorder:
            warnings.simplefilter("ignore")
            return _graph_class()().build_dependency(
                model, example_inputs=example_input, forward_fn=forward, verbose=False
            )

    was = model.training
    model.eval()  # tracing runs a forward: never update BatchNorm statistics
    try:
        with torch.enable_grad():
            graph = run_traced(model, build, stage="tracing the dependency graph")
    finally:
        model.train(was)
    out = result[0] if result else None
    graph.op_owner = recorder.owner
    graph.cost = recorder.cost()
    graph.outputs = recorder.output_layers(out)
    graph.output_shapes = output_shapes(out)
    graph.block_calls = recorder.blocks.calls if recorder.blocks is not None else None
    graph.layout = map_graph(graph)  # outside the recording mode: the label replays are plain torch ops
    return graph


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Module -> dotted path (first path wins for shared modules)."""
    names: dict[nn.Module, str] = {}
    for name, module in model.named_modules():
        names.setdefault(module, name)
    return names


def output_layers(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Layers whose output channels are the model's output (classifier heads): never prunable.

    A layer counts if its output tensor *is* a model output; if the model ends in a functional op
    (``flatten``, pooling), the last Conv/Linear executed is taken instead.
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), Recorder(model) as recorder:
            out = run_traced(model, lambda: model(example_input), stage="running the model")
    finally:
        model.train(was)
    return recorder.output_layers(out)


def resolve_layers(model: nn.Module, layers: Iterable[str | nn.Module]) -> list[nn.Module]:
    """Turn layer names (or modules) into modules, with an error naming an unknown path."""
    from edgeprune.errors import EdgepruneError

    found = []
    for layer in layers:
        if isinstance(layer, nn.Module):
            found.append(layer)
            continue
        try:
            found.append(model.get_submodule(layer))
        except AttributeError:
            raise EdgepruneError(f"--ignore / prune.ignored_layers: model has no module '{layer}'") from None
    return found


def _channel_groups(module: nn.Module) -> int:
    if isinstance(module, nn.modules.conv._ConvNd) and 1 < module.groups < module.out_channels:
        return module.groups
    if isinstance(module, nn.MultiheadAttention):
        return module.num_heads
    return 1


def _is_depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd) and module.groups > 1 and module.groups == module.out_channels


def _coupling(
    dg: Any, group: Any, out_modules: list[nn.Module], consumers: list[nn.Module], attention_inputs: set[nn.Module]
) -> list[str]:
    tp = torch_pruning()

    reasons: list[str] = []

    def add(reason: str) -> None:
        if reason not in reasons:
            reasons.append(reason)

    for dep, _ in group:
        node = dep.target
        label = type(node.grad_fn).__name__ if node.grad_fn is not None else ""
        if node.type == tp.ops.OPTYPE.CONCAT:
            add("concat")
        elif node.type in (tp.ops.OPTYPE.SPLIT, tp.ops.OPTYPE.SLICE, tp.ops.OPTYPE.UNBIND):
            add("split")
        elif "AddBackward" in label or "SubBackward" in label:
            add("residual add")
        elif "MulBackward" in label:
            add("elementwise mul (gating)")
        elif node.type == tp.ops.OPTYPE.PARAMETER:
            add("parameter")
    for module in out_modules + consumers:
        if isinstance(module, nn.modules.conv._ConvNd) and module.groups > 1 and module in out_modules:
            add("depthwise conv" if module.groups == module.out_channels else "grouped conv")
        elif isinstance(module, NORM_TYPES) and module in out_modules:
            add("norm")
        elif isinstance(module, nn.MultiheadAttention) or module in attention_inputs:
            add("attention")
    producers = [m for m in out_modules if isinstance(m, ROOT_TYPES) and not _is_depthwise(m)]
    if len(producers) > 1 and "residual add" not in reasons:
        add("shared output")
    return reasons


def split_attentions(model: nn.Module) -> dict[str, SplitAttention]:
    """Path -> every :class:`SplitAttention` of ``model``."""
    return {path: m for path, m in model.named_modules() if isinstance(m, SplitAttention)}


def qkv_attentions(model: nn.Module) -> dict[str, QkvAttention]:
    """Path -> attention written as projections + reshape into heads (see :mod:`edgeprune.graph.qkv`)."""
    return find_qkv_attention(model, skip=(SplitAttention,))


def _collect_all(dg: Any, model: nn.Module, names: dict[nn.Module, str]) -> list[tuple[str, nn.Module, Any, str]]:
    """(root path, root module, full group or None, why not collected) for every group, roots in module order."""
    visited: set[nn.Module] = set()
    found = []
    for path, module in model.named_modules():
        if module in visited or module not in dg.module2node or not isinstance(module, ROOT_TYPES):
            continue
        pruner = dg.get_pruner_of_module(module)
        width = pruner.get_out_channels(module) if pruner is not None else None
        if not width:
            continue
        try:
            group = collect(dg, module, list(range(int(width))), time.process_time() + GROUP_SECONDS)
        except GroupTimeout as exc:
            visited.add(module)
            found.append((path, module, None, f"{exc} ({GROUP_SECONDS:.0f} s); left unpruned"))
            continue
        for item in group:
            target = item.dep.target.module
            if isinstance(target, nn.Module) and dg.is_out_channel_pruning_fn(item.dep.handler):
                visited.add(target)
        found.append((path, module, group, ""))
    return found


def _units(dg: Any, model: nn.Module, names: dict[nn.Module, str]) -> tuple[list[UnitGroup], list[tuple]]:
    """Units and groups whose search timed out, computed once per graph."""
    cached = getattr(dg, "_edgeprune_units", None)
    if cached is None:
        collected = _collect_all(dg, model, names)
        failed = [(p, m, why) for p, m, g, why in collected if g is None]
        units = build_units([(p, m, g) for p, m, g, _ in collected if g is not None], dg.layout.partitions)
        cached = dg._edgeprune_units = (units, failed)
    return cached


def _layers(dg: Any, group: Any, names: dict[nn.Module, str]) -> tuple[list[nn.Module], list[nn.Module]]:
    out_modules: list[nn.Module] = []
    consumers: list[nn.Module] = []
    for dep, _ in group:
        module = dep.target.module
        if not isinstance(module, nn.Module) or module not in names:
            continue
        target = out_modules if dg.is_out_channel_pruning_fn(dep.handler) else consumers
        if module not in target:
            target.append(module)
    return out_modules, consumers


def iter_groups(dg: Any, model: nn.Module, ignored: Iterable[nn.Module] = ()) -> list[tuple[GroupInfo, Any]]:
    """All coupled groups and joint units (with a group in unit numbering, full indices) in ``named_modules`` order.

    The inner width of an attention layer (heads x head dim: :class:`SplitAttention`'s q/k/v, a qkv Linear) is
    not a channel group: see :func:`head_groups`. ``prunable`` here means "structurally allowed"; that pruning
    really works is checked by :mod:`edgeprune.graph.verify`."""
    names = module_names(model)
    order = {name: i for i, name in enumerate(names.values())}
    ignored_set = set(ignored)
    attentions = split_attentions(model).values()
    inner = {p for a in attentions for p in (a.q_proj, a.k_proj, a.v_proj)}
    stream = {p for a in attentions for p in (a.q_proj, a.k_proj, a.v_proj, a.out_proj)}
    for path, att in qkv_attentions(model).items():
        owner = model.get_submodule(path)
        inner |= {owner.get_submodule(p) for p, _ in att.projections}
    units, failed = _units(dg, model, names)
    result: list[tuple[GroupInfo, Any]] = []
    for unit in units:
        out_modules, consumers = _layers(dg, unit, names)
        roots = [m for m in out_modules if isinstance(m, ROOT_TYPES)]
        if not roots or any(m in inner for m in out_modules):
            continue
        root = min(roots, key=lambda m: order[names[m]])
        if any(isinstance(m, nn.MultiheadAttention) or m in stream for m in out_modules + consumers):
            kind = "embedding"
        else:
            kind = "neuron" if isinstance(root, nn.Linear) else "channel"
        coupling = _coupling(dg, unit, out_modules, consumers, stream)
        if len(unit.members) > 1:
            coupling = [c for c in coupling if c != "shared output"]  # several producers is what joint means
            coupling.append("joint: " + " + ".join(m.path for m in unit.members))
        blocked = [names[m] for m in out_modules if m in ignored_set]
        notes = []
        if blocked:
            notes.append(f"ignored: {', '.join(blocked)}")
        if unit.problem:
            notes.append(unit.problem)
        if unit.unmapped:
            notes.append(f"channels cannot be followed: {unit.unmapped[0]}")
        if unit.tied:
            a, b = unit.tied[0]
            notes.append(f"root indices {a} and {b} meet in one layer (e.g. an add of two slices of one tensor)")
        info = GroupInfo(
            root=names[root],
            kind=kind,
            width=unit.width,
            members=sorted((names[m] for m in out_modules), key=order.__getitem__),
            consumers=sorted((names[m] for m in consumers), key=order.__getitem__),
            coupling=coupling,
            channel_groups=unit.cell_count,
            prunable=not notes,
            note="; ".join(notes),
            extra={"partitions": unit.partitions},
        )
        result.append((info, unit))
    for path, module, why in failed:
        kind = "neuron" if isinstance(module, nn.Linear) else "channel"
        width = int(dg.get_pruner_of_module(module).get_out_channels(module))
        info = GroupInfo(path, kind, width, [path], [], [], prunable=False, note=why)
        result.append((info, UnitGroup(items=[], cells=[0] * width)))
    result.sort(key=lambda item: order[item[0].root])
    return result


def unit_of(groups: list[tuple[GroupInfo, Any]], root: str) -> tuple[GroupInfo, Any] | None:
    """The group (or joint unit) named ``root`` among ``groups``."""
    return next(((info, unit) for info, unit in groups if info.root == root), None)


def group_of(dg: Any, model: nn.Module, root: str, idxs: list[int]) -> Any:
    """The group that prunes output ``idxs`` of the layer at path ``root`` (for scoring and pruning)."""
    from edgeprune.errors import EdgepruneError

    try:
        module = model.get_submodule(root)
    except AttributeError:
        raise EdgepruneError(f"plan group root '{root}' is not a module of this model") from None
    pruner = dg.get_pruner_of_module(module)
    if module not in dg.module2node or pruner is None:
        raise EdgepruneError(f"plan group root '{root}' ({type(module).__name__}) is not a prunable traced layer")
    width = int(pruner.get_out_channels(module))
    if len(idxs) == width and sorted(idxs) == list(range(width)):
        found = unit_of(iter_groups(dg, model), root)
        if found is not None and found[1].items:
            return found[1]
    return dg.get_pruning_group(module, root_function(dg, module), idxs)


def _dependency(dg: Any, module: nn.Module, out: bool, name: str = "") -> Any:
    """A dependency pruning ``module``'s outputs (or inputs); a node is made for a layer the trace never called
    (its weight used through ``F.linear``, as torchvision's Swin does)."""
    from torch_pruning.dependency.dependency import Dependency
    from torch_pruning.dependency.node import Node

    node = dg.module2node.get(module) or Node(module, None, name)
    pruner = dg.get_pruner_of_module(module)
    fn = pruner.prune_out_channels if out else pruner.prune_in_channels
    return Dependency(fn, fn, source=node, target=node)


def _head_scoring_group(
    dg: Any, projections: list[nn.Linear], output: nn.Linear, names: dict[nn.Module, str]
) -> CoupledGroup:
    """Columns of the output Linear and rows of the projections, each on the inner index (heads x head dim) it
    feeds, for scoring whole heads with any group criterion."""
    inner = output.in_features
    cols = list(range(inner))
    items = [Item(_dependency(dg, output, False, names.get(output, "")), cols, cols)]
    for layer in projections:
        rows = list(range(layer.out_features))
        items.append(Item(_dependency(dg, layer, True, names.get(layer, "")), rows, [r % inner for r in rows]))
    return CoupledGroup(items)


def head_groups(dg: Any, model: nn.Module, ignored: Iterable[nn.Module] = ()) -> list[tuple[GroupInfo, Any]]:
    """One ``head`` group per attention layer pruned in whole heads: :class:`SplitAttention` and attention written
    as projections + reshape into heads (:mod:`edgeprune.graph.qkv`).

    The group returned with each scores the inner width (heads x head dim: projection rows, output columns);
    per-index scores are summed per head. Heads are removed by :func:`edgeprune.graph.surgery.prune_head_group`."""
    names = module_names(model)
    ignored_set = set(ignored)
    result: list[tuple[GroupInfo, Any]] = []
    for path, attn in split_attentions(model).items():
        projections = [attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj]
        blocked = [names[m] for m in [attn, *projections] if m in ignored_set]
        group = _head_scoring_group(dg, projections[:3], attn.out_proj, names)
        info = GroupInfo(
            root=path,
            kind="head",
            width=attn.num_heads,
            members=[names[m] for m in projections[:3]],
            consumers=[names[attn.out_proj]],
            coupling=["attention"],
            prunable=not blocked,
            note=f"ignored: {', '.join(blocked)}" if blocked else "",
            extra={"head_dim": attn.head_dim},
        )
        result.append((info, group))
    for path, att in qkv_attentions(model).items():
        owner = model.get_submodule(path)
        projections = [owner.get_submodule(p) for p, _ in att.projections]
        output = owner.get_submodule(att.output)
        blocked = [names[m] for m in [owner, *projections, output] if m in ignored_set]
        group = _head_scoring_group(dg, projections, output, names)
        info = GroupInfo(
            root=path,
            kind="head",
            width=att.num_heads,
            members=[names[m] for m in projections],
            consumers=[names[output]],
            coupling=["attention", "qkv reshape into heads"],
            prunable=not blocked and att.num_heads > 1,
            note=f"ignored: {', '.join(blocked)}" if blocked else "",
            extra={"head_dim": att.head_dim, "qkv": att},
        )
        result.append((info, group))
    return result


__all__ = ["GroupInfo", "Member", "UnitGroup", "build_graph", "group_of", "head_groups", "iter_groups"]
