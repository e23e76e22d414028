"""Physical pruning of many units at once: every layer is cut once, with the union of what all units remove.

torch-pruning prunes group after group on one graph, whose cached concat/split offsets go stale after the first
cut (a later group through the same concat then maps to wrong indices). Here all units are resolved against the
unpruned graph first, the removals are merged per layer, and each layer is cut once. Grouped convolutions get
their input channels removed per group (upstream keeps the first ``n / groups`` survivors of the whole input for
every group, which is wrong unless every group loses the same slots, and crashes on concatenated inputs).
Attributes that mirror a cut width (split sizes, slice ends, reshape sizes held by the module that runs the op)
follow it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention
from edgeprune.graph.layout import SPLITS, _int
from edgeprune.graph.qkv import QkvAttention, prune_qkv_heads
from edgeprune.graph.units import UnitGroup


def removals(drops: Iterable[tuple[UnitGroup, list[int]]]) -> dict[tuple[int, Any], tuple[Any, set[int]]]:
    """(target id, handler) -> (dependency, indices to remove), merged over every unit and its drops."""
    merged: dict[tuple[int, Any], tuple[Any, set[int]]] = {}
    for unit, drop in drops:
        for member, roots in unit.drops(drop):
            if not roots:
                continue
            wanted = set(roots)
            for item in member.group:
                idxs = {i for i, r in zip(item.idxs, item.root_idxs, strict=True) if r in wanted}
                if not idxs:
                    continue
                key = (id(item.dep.target.module), item.dep.handler)
                merged.setdefault(key, (item.dep, set()))[1].update(idxs)
    return merged


def _is_op(module: Any) -> bool:
    return type(module).__module__.startswith("torch_pruning")


def _take(tensor: torch.Tensor, dim: int, keep: list[int]) -> nn.Parameter:
    kept = tensor.detach().index_select(dim, torch.as_tensor(keep, device=tensor.device)).clone()
    return nn.Parameter(kept, requires_grad=tensor.requires_grad)


def prune_grouped_inputs(conv: nn.modules.conv._ConvNd, idxs: set[int], path: str = "conv") -> None:
    """Remove input channels ``idxs`` of a grouped conv, per group; every group must lose the same number."""
    g, per = conv.groups, conv.in_channels // conv.groups
    kept = [[j for j in range(per) if s * per + j not in idxs] for s in range(g)]
    if len({len(k) for k in kept}) != 1 or not kept[0]:
        counts = [per - len(k) for k in kept]
        raise EdgepruneError(f"grouped conv '{path}': its {g} groups would lose unequal input channels {counts}")
    if conv.transposed:  # weight (in, out / groups, *k): inputs are rows
        conv.weight = _take(conv.weight, 0, [s * per + j for s in range(g) for j in kept[s]])
    else:  # weight (out, in / groups, *k): each output group reads its own input slice
        out_per = conv.out_channels // g
        weight = conv.weight.detach()
        parts = [weight[s * out_per : (s + 1) * out_per][:, kept[s]] for s in range(g)]
        conv.weight = nn.Parameter(torch.cat(parts, 0).clone(), requires_grad=conv.weight.requires_grad)
    conv.in_channels = g * len(kept[0])


def _grouped(module: Any) -> bool:
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and not (module.groups == module.in_channels == module.out_channels)
    )


def execute(dg: Any, model: nn.Module, merged: dict[tuple[int, Any], tuple[Any, set[int]]]) -> None:
    """Cut every layer of ``merged`` once; unwrapped parameters are replaced on their owner."""
    names = {m: n for n, m in model.named_modules()}
    for dep, idxs in merged.values():
        module = dep.target.module
        if _is_op(module):
            continue
        ordered = sorted(idxs)
        name = names.get(module, "?")
        if isinstance(module, nn.Parameter):
            path = dg._param_to_name.get(module)
            if path is None:
                raise EdgepruneError(f"parameter of shape {tuple(module.shape)} has no known owner; cannot prune it")
            dep.handler.__self__.pruning_dim = dep.target.pruning_dim
            owner, _, attr = path.rpartition(".")
            setattr(model.get_submodule(owner) if owner else model, attr, dep.handler(module, ordered))
            continue
        width = _width(dg, dep, module)
        if width is not None and len(ordered) >= width:
            raise EdgepruneError(f"pruning would remove every channel of '{name}'")
        if _grouped(module) and not dg.is_out_channel_pruning_fn(dep.handler):
            prune_grouped_inputs(module, idxs, name)
            continue
        if isinstance(module, nn.modules.conv._ConvNd) and module.transposed and _grouped(module):
            raise EdgepruneError(f"transposed grouped conv '{name}': output pruning is not supported")
        dep.handler.__self__.pruning_dim = dep.target.pruning_dim
        dep.handler(module, ordered)


def _width(dg: Any, dep: Any, module: nn.Module) -> int | None:
    pruner = dep.handler.__self__
    try:
        if dg.is_out_channel_pruning_fn(dep.handler):
            return pruner.get_out_channels(module)
        return pruner.get_in_channels(module)
    except (AttributeError, TypeError):
        return None


# attribute names that hold sizes other than channel widths, even when the values coincide
NOT_WIDTHS = ("image", "img", "patch", "window", "kernel", "stride", "resolution", "seq", "token", "head", "group")


def follow_cut(dg: Any, model: nn.Module, merged: dict[tuple[int, Any], tuple[Any, set[int]]]) -> list[str]:
    """Update int (list) attributes of the module running a split/slice/reshape whose channel sizes changed.

    Returns ``module.attribute`` names changed. The verification forward decides whether that was enough."""
    removed_at: dict[Any, set[int]] = {}
    for dep, idxs in merged.values():
        if _is_op(dep.target.module):
            node = getattr(dep.target, "_node", dep.target)  # a copy's view keeps the original node
            removed_at.setdefault(node, set()).update(idxs)
    changed: list[str] = []
    for node, idxs in removed_at.items():
        owner_path = dg.op_owner.get(node.grad_fn)
        space = dg.layout.spaces.get(node)
        if owner_path is None or space is None or space.block is None:
            continue
        owner = model.get_submodule(owner_path)
        for old, new in _size_changes(node, space, idxs):
            for attr, value in list(vars(owner).items()):
                if attr.startswith("_") or any(word in attr.lower() for word in NOT_WIDTHS):
                    continue
                if isinstance(value, int) and not isinstance(value, bool) and isinstance(old, int) and value == old:
                    setattr(owner, attr, new)
                    changed.append(f"{owner_path}.{attr}")
                elif isinstance(value, (list, tuple)) and isinstance(old, list) and list(value) == old:
                    setattr(owner, attr, type(value)(new))
                    changed.append(f"{owner_path}.{attr}")
    return changed


def _size_changes(node: Any, space: Any, removed: set[int]) -> list[tuple[Any, Any]]:
    """(old, new) sizes an op's literal arguments would carry: split sizes, slice ends, reshape channel sizes."""
    fn = node.grad_fn
    name = type(fn).__name__
    if len(space.block) != 1:
        return []
    width = space.width
    if name in SPLITS and name != "UnbindBackward0":
        sizes = list(getattr(fn, "_saved_split_sizes", []) or [])
        if not sizes:
            size = int(fn._saved_split_size)
            sizes = [min(size, width - k) for k in range(0, width, size)]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        new = [s - sum(1 for i in removed if offsets[k] <= i < offsets[k + 1]) for k, s in enumerate(sizes)]
        changes: list[tuple[Any, Any]] = [(sizes, new)]
        if len(set(sizes)) == 1 and len(set(new)) == 1:
            changes.append((sizes[0], new[0]))
            if len(sizes) > 1:  # an equal split sized as total // pieces (timm's SelectiveKernel: in_channels)
                changes.append((sum(sizes), sum(new)))
        return changes
    if name == "SliceBackward0":
        end = _int(fn._saved_end)
        if (
            _int(fn._saved_start) in (0, None)
            and _int(fn._saved_step) == 1
            and isinstance(end, int)
            and 0 < end == width
        ):
            return [(end, end - len(removed))]
        return []
    if name in ("ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0"):
        return [(width, width - len(removed))]
    return []


def sync_known_attributes(model: nn.Module) -> None:
    """Width attributes read in ``forward`` that are not op arguments of their own module (torchvision ViT's
    ``hidden_dim``, encoder blocks' ``num_heads``, :class:`SplitAttention`'s ``embed_dim``)."""
    for module in model.modules():
        proj = getattr(module, "conv_proj", None)
        if isinstance(proj, nn.Conv2d) and hasattr(module, "hidden_dim"):
            module.hidden_dim = proj.out_channels
        if isinstance(module, SplitAttention):
            module.embed_dim = module.q_proj.in_features
        attn = getattr(module, "self_attention", None)
        if isinstance(attn, (nn.MultiheadAttention, SplitAttention)) and hasattr(module, "num_heads"):
            module.num_heads = attn.num_heads


def prune_head_group(model: nn.Module, path: str, keep: list[int], qkv: QkvAttention | None = None) -> None:
    """Keep heads ``keep`` of the attention layer at ``path`` (a :class:`SplitAttention` or a qkv attention)."""
    module = model.get_submodule(path)
    if isinstance(module, SplitAttention):
        prune_split_heads(module, keep, path)
    elif qkv is not None:
        prune_qkv_heads(model, qkv, keep)
    else:
        raise EdgepruneError(f"head group '{path}' is a {type(module).__name__}, not an attention layer")


def prune_split_heads(attn: SplitAttention, keep: list[int], path: str) -> None:
    if not keep or len(set(keep)) != len(keep) or min(keep) < 0 or max(keep) >= attn.num_heads:
        raise EdgepruneError(f"attention '{path}': heads to keep {keep} must be unique, in 0..{attn.num_heads - 1}")
    d = attn.head_dim
    rows = [h * d + i for h in sorted(keep) for i in range(d)]
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        proj.weight = _take(proj.weight, 0, rows)
        if proj.bias is not None:
            proj.bias = _take(proj.bias, 0, rows)
        proj.out_features = len(rows)
    attn.out_proj.weight = _take(attn.out_proj.weight, 1, rows)
    attn.out_proj.in_features = len(rows)
    attn.num_heads = len(keep)


class _NodeView:
    """A graph node whose module is replaced by the same module of a structurally identical copy."""

    def __init__(self, node: Any, module: Any) -> None:
        self._node, self.module = node, module
        self.pruning_dim, self.grad_fn = node.pruning_dim, node.grad_fn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


class _DepView:
    def __init__(self, dep: Any, module: Any) -> None:
        self.handler, self.trigger = dep.handler, dep.trigger
        self.target = _NodeView(dep.target, module)


class _GraphView:
    """What :func:`execute` and :func:`follow_cut` read from a graph, for a copy of the traced model."""

    def __init__(self, dg: Any, params: dict[Any, Any]) -> None:
        self._dg = dg
        self._param_to_name = {params.get(p, p): n for p, n in dg._param_to_name.items()}
        self.op_owner, self.layout = dg.op_owner, dg.layout

    def is_out_channel_pruning_fn(self, fn: Any) -> bool:
        return self._dg.is_out_channel_pruning_fn(fn)


def retarget(dg: Any, traced: nn.Module, copy: nn.Module, merged: dict) -> tuple[Any, dict]:
    """(graph view, removals) for ``copy``, a model with the same structure as the ``traced`` one: the removals of
    ``merged`` re-pointed to the copy's modules and parameters, matched by position."""
    modules = dict(zip(traced.modules(), copy.modules(), strict=True))
    params = dict(zip(traced.parameters(), copy.parameters(), strict=True))
    out = {}
    for key, (dep, idxs) in merged.items():
        target = dep.target.module
        mapped = params.get(target) if isinstance(target, nn.Parameter) else modules.get(target)
        out[key] = (_DepView(dep, target if mapped is None else mapped), idxs)
    return _GraphView(dg, params), out
