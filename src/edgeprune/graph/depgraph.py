"""Coupled groups of a model, read from torch-pruning's ``DependencyGraph``.

A group is a set of layers whose output channels (or neurons) must shrink together. Each group is
named by its *root*: the first Conv/Linear/MultiheadAttention member (in ``named_modules`` order)
whose output dimension the group prunes. The root name is stable across builds of the same
architecture, which is what makes a saved plan replayable.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.graph.attention import SplitAttention
from edgeprune.graph.trace import run_traced

ROOT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@dataclass
class GroupInfo:
    """One coupled group: what shrinks together and why."""

    root: str
    kind: str  # "channel" (conv), "neuron" (linear), "embedding" (attention residual stream), "head"
    width: int
    members: list[str]  # layers whose outputs shrink
    consumers: list[str]  # layers whose inputs shrink
    coupling: list[str]  # reasons the members are tied
    channel_groups: int = 1  # grouped conv / heads: indices are pruned identically in each slice
    prunable: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def build_graph(model: nn.Module, example_input: torch.Tensor) -> Any:
    """Trace ``model`` into a torch-pruning ``DependencyGraph``; tracing errors name the module and op."""
    import torch_pruning as tp

    def build() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_input, verbose=False)

    was = model.training
    model.eval()  # tracing runs a forward: never update BatchNorm statistics
    try:
        with torch.enable_grad():
            return run_traced(model, build, stage="tracing the dependency graph")
    finally:
        model.train(was)


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
    names = module_names(model)
    produced: list[tuple[torch.Tensor, str]] = []  # kept alive so identity checks are sound
    order: list[str] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(module, ROOT_TYPES):
            name = names.get(module, "")
            order.append(name)
            produced.extend((t, name) for t in _tensors(output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = run_traced(model, lambda: model(example_input), stage="running the model")
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    found: list[str] = []
    for tensor in _tensors(out):
        for candidate, name in produced:
            if candidate is tensor and name not in found:
                found.append(name)
    if not found and order:
        found.append(order[-1])
    return found


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


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
            raise EdgepruneError(f"ignored_layers: model has no module '{layer}'") from None
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
    import torch_pruning as tp

    reasons: list[str] = []

    def add(reason: str) -> None:
        if reason not in reasons:
            reasons.append(reason)

    for dep, _ in group:
        node = dep.target
        label = str(node.name) if node.type == tp.ops.OPTYPE.ELEMENTWISE else ""
        if node.type == tp.ops.OPTYPE.CONCAT:
            add("concat")
        elif node.type == tp.ops.OPTYPE.SPLIT or node.type == tp.ops.OPTYPE.SLICE:
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


def iter_groups(dg: Any, model: nn.Module, ignored: Iterable[nn.Module] = ()) -> list[tuple[GroupInfo, Any]]:
    """All coupled groups (with the torch-pruning group, full indices) in ``named_modules`` order.

    The inner width of a :class:`SplitAttention` (heads x head dim) is not a channel group: see
    :func:`head_groups`."""
    names = module_names(model)
    order = {name: i for i, name in enumerate(names.values())}
    ignored_set = set(ignored)
    attentions = split_attentions(model).values()
    inner = {p for a in attentions for p in (a.q_proj, a.k_proj, a.v_proj)}
    stream = {p for a in attentions for p in (a.q_proj, a.k_proj, a.v_proj, a.out_proj)}
    result: list[tuple[GroupInfo, Any]] = []
    for group in dg.get_all_groups(root_module_types=ROOT_TYPES):
        out_modules, consumers = [], []
        for dep, _ in group:
            module = dep.target.module
            if not isinstance(module, nn.Module) or module not in names:
                continue
            target = out_modules if dg.is_out_channel_pruning_fn(dep.handler) else consumers
            if module not in target:
                target.append(module)
        roots = [m for m in out_modules if isinstance(m, ROOT_TYPES)]
        if not roots or any(m in inner for m in out_modules):
            continue
        root = min(roots, key=lambda m: order[names[m]])
        if any(isinstance(m, nn.MultiheadAttention) or m in stream for m in out_modules + consumers):
            kind = "embedding"
        else:
            kind = "neuron" if isinstance(root, nn.Linear) else "channel"
        blocked = [names[m] for m in out_modules if m in ignored_set]
        info = GroupInfo(
            root=names[root],
            kind=kind,
            width=int(dg.get_out_channels(root)),
            members=sorted((names[m] for m in out_modules), key=order.__getitem__),
            consumers=sorted((names[m] for m in consumers), key=order.__getitem__),
            coupling=_coupling(dg, group, out_modules, consumers, stream),
            channel_groups=max(_channel_groups(m) for m in out_modules + consumers),
            prunable=not blocked,
            note=f"ignored: {', '.join(blocked)}" if blocked else "",
        )
        result.append((info, group))
    result.sort(key=lambda item: order[item[0].root])
    return result


def group_of(dg: Any, model: nn.Module, root: str, idxs: list[int]) -> Any:
    """The torch-pruning group that prunes output ``idxs`` of the layer at path ``root``."""
    from edgeprune.errors import EdgepruneError

    try:
        module = model.get_submodule(root)
    except AttributeError:
        raise EdgepruneError(f"plan group root '{root}' is not a module of this model") from None
    pruner = dg.get_pruner_of_module(module)
    if module not in dg.module2node or pruner is None:
        raise EdgepruneError(f"plan group root '{root}' ({type(module).__name__}) is not a prunable traced layer")
    return dg.get_pruning_group(module, pruner.prune_out_channels, idxs)


def head_groups(dg: Any, model: nn.Module, ignored: Iterable[nn.Module] = ()) -> list[tuple[GroupInfo, Any]]:
    """One ``head`` group per :class:`SplitAttention`: whole heads (q/k/v rows, out columns) removed together.

    The torch-pruning group returned with each (q_proj's outputs, full inner width) is for scoring only;
    per-index scores are summed per head. Heads are removed by :func:`edgeprune.prune.heads.prune_heads`."""
    names = module_names(model)
    ignored_set = set(ignored)
    result: list[tuple[GroupInfo, Any]] = []
    for path, attn in split_attentions(model).items():
        projections = [attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj]
        blocked = [names[m] for m in [attn, *projections] if m in ignored_set]
        group = None
        if attn.q_proj in dg.module2node:
            group = dg.get_pruning_group(
                attn.q_proj,
                dg.get_pruner_of_module(attn.q_proj).prune_out_channels,
                list(range(attn.q_proj.out_features)),
            )
        info = GroupInfo(
            root=path,
            kind="head",
            width=attn.num_heads,
            members=[names[m] for m in projections[:3]],
            consumers=[names[attn.out_proj]],
            coupling=["attention"],
            prunable=not blocked and group is not None,
            note=f"ignored: {', '.join(blocked)}" if blocked else ("" if group is not None else "not traced"),
            extra={"head_dim": attn.head_dim},
        )
        result.append((info, group))
    return result
