"""Attention written as projections plus a reshape into heads (timm ``Attention``, torchvision Swin/MaxViT):
found by structure, pruned in whole heads.

Outside ``nn.MultiheadAttention``, attention is usually ``qkv = self.qkv(x).reshape(B, N, 3, self.num_heads,
self.head_dim)``: one Linear whose outputs are (q, k, v) x heads x head dim, and an output projection reading
heads x head dim. Pruning qkv's outputs as plain neurons breaks that reshape; removing whole heads keeps it
valid if ``num_heads`` follows. A module qualifies if it holds an int head count (``num_heads``, ``n_heads``,
``heads``) and Linear children for the projections (fused ``qkv``/``to_qkv``, or ``q``/``k``/``v`` and their
``*_proj`` forms; output ``proj``/``out_proj``/``merge``/``o_proj``/``to_out``). Tensors with one entry per head
(relative position bias tables, logit scales, the last layer of a continuous position bias MLP) shrink with it.
Whether the module's forward accepts fewer heads (some derive the head dim from the input width) is decided by
the verification forward pass, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

HEAD_ATTRS = ("num_heads", "n_heads", "heads", "num_attention_heads")
FUSED = ("qkv", "to_qkv", "qkv_proj", "wqkv")
SEPARATE = (("q", "k", "v"), ("q_proj", "k_proj", "v_proj"), ("query", "key", "value"), ("to_q", "to_k", "to_v"))
OUTPUT = ("proj", "out_proj", "o_proj", "merge", "to_out", "out")


@dataclass(frozen=True)
class QkvAttention:
    """One attention module pruned in whole heads."""

    path: str
    heads_attr: str
    num_heads: int
    head_dim: int
    projections: tuple[str, ...]  # child names: one fused qkv, or q, k, v
    parts: int  # 3 for a fused qkv (rows: part x heads x head dim), 1 for separate projections
    output: str  # child name of the output projection Linear (a dotted path inside ``to_out`` Sequentials)
    per_head: tuple[tuple[str, int], ...]  # (attribute or child Linear name, dimension) holding one entry per head

    @property
    def inner(self) -> int:
        return self.num_heads * self.head_dim


def _linear(module: nn.Module, name: str) -> tuple[str, nn.Linear] | None:
    child = getattr(module, name, None)
    if isinstance(child, nn.Linear):
        return name, child
    if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) and isinstance(child[0], nn.Linear):
        return f"{name}.0", child[0]
    return None


def _describe(path: str, module: nn.Module) -> QkvAttention | None:
    attr = next((a for a in HEAD_ATTRS if isinstance(getattr(module, a, None), int)), None)
    if attr is None or isinstance(getattr(module, attr), bool) or getattr(module, attr) < 1:
        return None
    heads = int(getattr(module, attr))
    projections: tuple[str, ...] = ()
    parts, inner = 0, 0
    for name in FUSED:
        found = _linear(module, name)
        if found and found[1].out_features % (3 * heads) == 0:
            projections, parts, inner = (found[0],), 3, found[1].out_features // 3
            break
    if not projections:
        for names in SEPARATE:
            found_all = [_linear(module, n) for n in names]
            if all(found_all) and len({f[1].out_features for f in found_all}) == 1:
                width = found_all[0][1].out_features
                if width % heads == 0:
                    projections, parts, inner = tuple(f[0] for f in found_all), 1, width
                    break
    if not projections:
        return None
    output = next((f for f in (_linear(module, n) for n in OUTPUT) if f and f[1].in_features == inner), None)
    if output is None:
        return None
    head_dim = inner // heads
    declared = getattr(module, "head_dim", None)
    if isinstance(declared, int) and declared != head_dim:
        return None
    per_head: list[tuple[str, int]] = []
    for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        dims = [d for d, s in enumerate(tensor.shape) if s == heads]
        if dims and heads > 1 and tensor.dim() >= 1 and "index" not in name:
            per_head.append((name, dims[-1] if tensor.dim() > 1 and tensor.shape[0] != heads else dims[0]))
    used = {p.split(".")[0] for p in projections} | {output[0].split(".")[0]}
    for name, child in module.named_modules():
        if name and name.split(".")[0] not in used and isinstance(child, nn.Linear) and child.out_features == heads:
            per_head.append((name, -1))
    return QkvAttention(path, attr, heads, head_dim, projections, parts, output[0], tuple(per_head))


def find_qkv_attention(model: nn.Module, skip: tuple[type, ...] = ()) -> dict[str, QkvAttention]:
    """Path -> :class:`QkvAttention` for every qualifying module (``skip``: types handled elsewhere)."""
    found = {}
    for path, module in model.named_modules():
        if isinstance(module, (nn.MultiheadAttention, *skip)):
            continue
        described = _describe(path, module)
        if described is not None:
            found[path] = described
    return found


def head_rows(att: QkvAttention, keep: list[int], part_width: int | None = None) -> list[int]:
    """Output rows of a projection that keep heads ``keep`` (each of ``parts`` blocks of heads x head dim)."""
    d = att.head_dim
    width = part_width if part_width is not None else att.inner
    return [p * width + h * d + j for p in range(att.parts) for h in sorted(keep) for j in range(d)]


def _take(tensor: torch.Tensor, dim: int, index: list[int]) -> torch.Tensor:
    return tensor.detach().index_select(dim, torch.as_tensor(index, device=tensor.device)).clone()


def _shrink_rows(layer: nn.Linear, rows: list[int]) -> None:
    layer.weight = nn.Parameter(_take(layer.weight, 0, rows), requires_grad=layer.weight.requires_grad)
    if layer.bias is not None:
        layer.bias = nn.Parameter(_take(layer.bias, 0, rows), requires_grad=layer.bias.requires_grad)
    layer.out_features = len(rows)


def prune_qkv_heads(model: nn.Module, att: QkvAttention, keep: list[int]) -> None:
    """Keep heads ``keep`` of the attention at ``att.path``, in place (projections, per-head tensors, head count)."""
    module = model.get_submodule(att.path)
    keep = sorted(keep)
    old_inner = att.inner
    for name in att.projections:
        layer = module.get_submodule(name)
        _shrink_rows(layer, head_rows(att, keep))
    out = module.get_submodule(att.output)
    cols = [h * att.head_dim + j for h in keep for j in range(att.head_dim)]
    out.weight = nn.Parameter(_take(out.weight, 1, cols), requires_grad=out.weight.requires_grad)
    out.in_features = len(cols)
    for name, dim in att.per_head:
        if dim == -1:
            _shrink_rows(module.get_submodule(name), keep)
            continue
        tensor = getattr(module, name)
        taken = _take(tensor, dim, keep)
        if isinstance(tensor, nn.Parameter):
            setattr(module, name, nn.Parameter(taken, requires_grad=tensor.requires_grad))
        else:
            setattr(module, name, taken)
    setattr(module, att.heads_attr, len(keep))
    new_inner = len(keep) * att.head_dim
    for name, value in list(vars(module).items()):
        if isinstance(value, int) and not isinstance(value, bool) and value == old_inner and not name.startswith("_"):
            setattr(module, name, new_inner)
