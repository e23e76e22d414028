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
# projection layouts, tried in order: (child name, parts) per projection; a fused one holds parts x heads x head dim
LAYOUTS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("qkv", 3),),
    (("to_qkv", 3),),
    (("qkv_proj", 3),),
    (("wqkv", 3),),
    (("qk", 2), ("v", 1)),  # ConViT's gated positional attention
    (("q", 1), ("kv", 2)),  # PVT-style
    (("q", 1), ("k", 1), ("v", 1)),
    (("q_proj", 1), ("k_proj", 1), ("v_proj", 1)),
    (("query", 1), ("key", 1), ("value", 1)),
    (("to_q", 1), ("to_k", 1), ("to_v", 1)),
)
OUTPUT = ("proj", "out_proj", "o_proj", "merge", "to_out", "out")


@dataclass(frozen=True)
class QkvAttention:
    """One attention module pruned in whole heads."""

    path: str
    heads_attr: str
    num_heads: int
    head_dim: int
    projections: tuple[tuple[str, int], ...]  # (child name, parts): rows are parts x heads x head dim
    output: str  # child name of the output projection Linear (a dotted path inside ``to_out`` Sequentials)
    per_head: tuple[tuple[str, int], ...]  # (parameter/buffer name, dim) holding one entry per head
    head_linears: tuple[tuple[str, bool, bool], ...] = ()  # (child Linear, rows are heads, columns are heads)

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


def _projections(module: nn.Module, heads: int) -> tuple[tuple[tuple[str, int], ...], int] | None:
    """The first layout of :data:`LAYOUTS` the module has, with its inner width (heads x head dim)."""
    for layout in LAYOUTS:
        found = [(_linear(module, name), parts) for name, parts in layout]
        if not all(f is not None for f, _ in found):
            continue
        widths = {f[1].out_features // parts for f, parts in found if f[1].out_features % parts == 0}
        if len(widths) == 1 and all(f[1].out_features % parts == 0 for f, parts in found):
            inner = widths.pop()
            if inner % heads == 0:
                return tuple((f[0], parts) for f, parts in found), inner
    return None


def _describe(path: str, module: nn.Module) -> QkvAttention | None:
    attr = next((a for a in HEAD_ATTRS if isinstance(getattr(module, a, None), int)), None)
    if attr is None or isinstance(getattr(module, attr), bool) or getattr(module, attr) < 1:
        return None
    heads = int(getattr(module, attr))
    described = _projections(module, heads)
    if described is None:
        return None
    projections, inner = described
    output = next((f for f in (_linear(module, n) for n in OUTPUT) if f and f[1].in_features == inner), None)
    if output is None:
        return None
    head_dim = inner // heads
    declared = getattr(module, "head_dim", None)
    if isinstance(declared, int) and declared != head_dim:
        return None
    per_head: list[tuple[str, int]] = []
    for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        dims = [d for d, size in enumerate(tensor.shape) if size == heads]
        if dims and heads > 1 and "index" not in name:
            per_head.append((name, dims[-1] if tensor.dim() > 1 and tensor.shape[0] != heads else dims[0]))
    used = {p.split(".")[0] for p, _ in projections} | {output[0].split(".")[0]}
    head_linears = []
    for name, child in module.named_modules():
        if name and name.split(".")[0] not in used and isinstance(child, nn.Linear) and heads > 1:
            rows, cols = child.out_features == heads, child.in_features == heads
            if rows or cols:  # a position-bias MLP's last layer, talking-heads mixing (heads -> heads)
                head_linears.append((name, rows, cols))
    return QkvAttention(path, attr, heads, head_dim, projections, output[0], tuple(per_head), tuple(head_linears))


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


def head_rows(att: QkvAttention, keep: list[int], parts: int) -> list[int]:
    """Output rows of a projection with ``parts`` blocks of heads x head dim that keep heads ``keep``."""
    d, width = att.head_dim, att.inner
    return [p * width + h * d + j for p in range(parts) for h in sorted(keep) for j in range(d)]


def _take(tensor: torch.Tensor, dim: int, index: list[int]) -> torch.Tensor:
    return tensor.detach().index_select(dim, torch.as_tensor(index, device=tensor.device)).clone()


def _shrink_rows(layer: nn.Linear, rows: list[int]) -> None:
    layer.weight = nn.Parameter(_take(layer.weight, 0, rows), requires_grad=layer.weight.requires_grad)
    if layer.bias is not None:
        layer.bias = nn.Parameter(_take(layer.bias, 0, rows), requires_grad=layer.bias.requires_grad)
    layer.out_features = len(rows)


def prune_qkv_heads(model: nn.Module, att: QkvAttention, keep: list[int]) -> None:
    """Keep heads ``keep`` of the attention at ``att.path``, in place (projections, per-head tensors and Linears,
    head count, and int attributes equal to the old inner width)."""
    module = model.get_submodule(att.path)
    keep = sorted(keep)
    old_inner = att.inner
    for name, parts in att.projections:
        _shrink_rows(module.get_submodule(name), head_rows(att, keep, parts))
    out = module.get_submodule(att.output)
    cols = [h * att.head_dim + j for h in keep for j in range(att.head_dim)]
    out.weight = nn.Parameter(_take(out.weight, 1, cols), requires_grad=out.weight.requires_grad)
    out.in_features = len(cols)
    for name, rows, columns in att.head_linears:
        layer = module.get_submodule(name)
        if rows:
            _shrink_rows(layer, keep)
        if columns:
            layer.weight = nn.Parameter(_take(layer.weight, 1, keep), requires_grad=layer.weight.requires_grad)
            layer.in_features = len(keep)
    for name, dim in att.per_head:
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
