"""Exact channel index mappings between the nodes of a torch-pruning ``DependencyGraph``, from real tensor shapes.

torch-pruning maps channel indices through concat/split/reshape by *inferring* channel counts recursively and
assuming the channel dimension is 1 (4-D) or handling only a few reshapes; where that guess is wrong it maps
silently wrong indices or raises (ZeroDivisionError in a channel shuffle, out-of-range indices through nested
concats). Here every mapping is computed from the shapes autograd recorded for the traced forward pass:

- each node gets a *space*: the tensor its indices refer to (its output; for split/unbind its input) and the
  *block*, the dimension(s) holding the channels of that tensor;
- an edge's mapping follows the op exactly: concat/split/slice/pad along the block dimension shift or filter
  indices; view/reshape/permute/transpose/flatten/unflatten/pixel-shuffle/roll/index ops are replayed on a tensor
  of channel labels, so a channel shuffle becomes the permutation it is;
- ops that only pass channels through (elementwise, norms, activations) keep the block;
- an op that would need a mapping this module cannot compute gets :class:`Unmapped`, which stops the group there
  and records why (the group is then left unpruned, never pruned wrongly);
- a view that splits the channels into several dimensions (channel shuffle, heads), an equal split (chunk) and a
  grouped convolution each record a :class:`Partition`: a constraint that every slice of those channels loses the
  same number of indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.graph.upstream import torch_pruning

Shape = tuple[int, ...]
MAX_WIDTH = 1 << 16  # no layer has more channels: a wider block means positions got mixed in


class Relation:
    """A channel index mapping from one space to another: ``forward[i]`` lists the targets of index ``i``."""

    def __init__(self, forward: dict[int, list[int]]) -> None:
        self.forward = forward

    def inverse(self) -> Relation:
        back: dict[int, list[int]] = {}
        for i, targets in self.forward.items():
            for t in targets:
                back.setdefault(t, []).append(i)
        return Relation(back)

    def __call__(self, idxs: list[Any]) -> list[Any]:
        from torch_pruning._helpers import _HybridIndex

        return [_HybridIndex(idx=t, root_idx=i.root_idx) for i in idxs for t in self.forward.get(i.idx, ())]


class Unmapped:
    """An edge whose channel mapping is unknown: propagation stops and the group records ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, _idxs: list[Any]) -> list[Any]:
        return []


class Dropped:
    """An edge that carries no channels of the group (e.g. into a weight transpose): propagation stops."""

    def __call__(self, _idxs: list[Any]) -> list[Any]:
        return []


DROPPED = Dropped()


@dataclass(frozen=True)
class Space:
    """The tensor a node's indices refer to and the dimension(s) holding its channels (``None``: no channels)."""

    shape: Shape
    block: tuple[int, ...] | None

    @property
    def width(self) -> int:
        return math.prod(self.shape[d] for d in self.block) if self.block else 0


@dataclass
class Partition:
    """The indices of node ``node`` (``width`` of them) fall into ``parts`` equal consecutive slices that must
    lose the same number of indices (grouped conv, chunk, a view splitting the channels)."""

    node: Any
    parts: int
    width: int
    why: str
    side: str = "out"  # for a layer: "out" (its outputs) or "in" (its inputs); ops have one space
    aligned: bool = False  # slices are later interleaved (channel shuffle): they must keep the same positions


@dataclass
class Layout:
    """Per-node spaces and the partitions found while mapping a graph."""

    spaces: dict[Any, Space] = field(default_factory=dict)
    partitions: list[Partition] = field(default_factory=list)
    unmapped: dict[Any, str] = field(default_factory=dict)


# ---------------------------------------------------------------- shapes from autograd


def _out_shape(fn: Any, nr: int) -> Shape | None:
    """Forward output ``nr`` of autograd node ``fn`` (a leaf: the variable)."""
    if fn is None:
        return None
    variable = getattr(fn, "variable", None)
    if variable is not None:
        return tuple(variable.shape)
    try:
        meta = fn._input_metadata
        return tuple(int(s) for s in meta[nr].shape)
    except (AttributeError, IndexError, RuntimeError, TypeError):
        return None


def _int(value: Any) -> Any:
    """Saved ints of autograd nodes come back unsigned (-1 reads 2**64 - 1): restore the sign."""
    if isinstance(value, (list, tuple)):
        return type(value)(_int(v) for v in value)
    if isinstance(value, int) and value >= 2**63:
        return value - 2**64
    return value


def _norm_dim(dim: int, rank: int) -> int:
    dim = _int(dim)
    return dim + rank if dim < 0 else dim


# ---------------------------------------------------------------- label replay for shape ops


def _labels(space: Space) -> torch.Tensor:
    """A tensor of ``space.shape`` whose value is the channel coordinate (mixed radix over the block)."""
    assert space.block is not None
    sizes = [space.shape[d] for d in space.block]
    coords = torch.arange(math.prod(sizes), dtype=torch.int32).reshape(sizes)
    view = [1] * len(space.shape)
    for d, s in zip(space.block, sizes, strict=True):
        view[d] = s
    order = sorted(range(len(space.block)), key=lambda k: space.block[k])
    coords = coords.permute(order).reshape(view)
    return coords.expand(space.shape)


def _read(labels: torch.Tensor) -> tuple[tuple[int, ...], torch.Tensor] | None:
    """(block dims, label per channel coordinate) of a replayed label tensor; None if channels mix with other dims."""
    if labels.dim() == 0:
        return None
    block = []
    for d in range(labels.dim()):
        if labels.shape[d] > 1 and not bool((labels.narrow(d, 0, 1) == labels).all()):
            block.append(d)
    if not block:
        return None
    rest = [d for d in range(labels.dim()) if d not in block]
    flat = labels.permute(block + rest).reshape(math.prod(labels.shape[d] for d in block), -1)
    if not bool((flat == flat[:, :1]).all()):
        return None
    return tuple(block), flat[:, 0].clone()


def _replay_view(labels: torch.Tensor, _fn: Any, out: Shape) -> torch.Tensor:
    return labels.reshape(out)


def _replay_permute(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return labels.permute(tuple(_int(fn._saved_dims)))


def _replay_transpose(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return labels.transpose(_int(fn._saved_dim0), _int(fn._saved_dim1))


def _replay_expand(labels: torch.Tensor, _fn: Any, out: Shape) -> torch.Tensor:
    return labels.expand(out)


def _replay_slice(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    dim = _norm_dim(fn._saved_dim, labels.dim())
    size = labels.shape[dim]
    start, end, step = _int(fn._saved_start), _int(fn._saved_end), _int(fn._saved_step)
    start = 0 if start is None else min(max(start + size if start < 0 else start, 0), size)
    end = size if end is None else min(max(end + size if end < 0 else end, 0), size)
    index = torch.arange(start, end, step)
    return labels.index_select(dim, index)


def _replay_select(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    index = _int(fn._saved_index)
    return labels.select(_norm_dim(fn._saved_dim, labels.dim()), index)


def _replay_index_select(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return labels.index_select(_norm_dim(fn._saved_dim, labels.dim()), fn._saved_index.cpu())


def _replay_index(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    indices = [None if i is None else i.cpu() for i in fn._saved_indices]
    return labels[tuple(indices)]


def _replay_roll(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return labels.roll(tuple(_int(fn._saved_shifts)), tuple(_int(fn._saved_dims)))


def _replay_flip(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return labels.flip(tuple(_int(fn._saved_dims)))


def _replay_pixel_shuffle(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return torch.nn.functional.pixel_shuffle(labels, fn._saved_upscale_factor)


def _replay_pixel_unshuffle(labels: torch.Tensor, fn: Any, _out: Shape) -> torch.Tensor:
    return torch.nn.functional.pixel_unshuffle(labels, fn._saved_downscale_factor)


def _replay_reduce(labels: torch.Tensor, fn: Any, out: Shape) -> torch.Tensor:
    dims = _int(getattr(fn, "_saved_dim", None))
    keep = bool(getattr(fn, "_saved_keepdim", False))
    if dims is None:
        return labels.reshape(-1)[:1].reshape(out)
    dims = [dims] if isinstance(dims, int) else list(dims)
    if not dims:  # reduce over everything
        return labels.reshape(-1)[:1].reshape(out)
    dims = sorted(_norm_dim(d, labels.dim()) for d in dims)
    reduced = labels
    for d in reversed(dims):
        reduced = reduced.narrow(d, 0, 1)
        if not keep:
            reduced = reduced.squeeze(d)
    return reduced.reshape(out)


def _replay_pad(labels: torch.Tensor, fn: Any, out: Shape) -> torch.Tensor:
    pad = list(_int(fn._saved_pad))
    result = torch.full(out, -1, dtype=labels.dtype)
    index = []
    for k in range(labels.dim()):
        j = labels.dim() - 1 - k  # pad pairs run from the last dimension backwards
        before = pad[2 * k] if 2 * k < len(pad) else 0
        after = pad[2 * k + 1] if 2 * k + 1 < len(pad) else 0
        if before < 0 or after < 0:
            raise ValueError("negative padding")
        index.insert(0, slice(before, before + labels.shape[j]))
        del after
    result[tuple(index)] = labels
    return result


REPLAY: dict[str, Callable[[torch.Tensor, Any, Shape], torch.Tensor]] = {
    "ViewBackward0": _replay_view,
    "ReshapeAliasBackward0": _replay_view,
    "UnsafeViewBackward0": _replay_view,
    "SqueezeBackward0": _replay_view,
    "SqueezeBackward1": _replay_view,
    "SqueezeBackward2": _replay_view,
    "UnsqueezeBackward0": _replay_view,
    "AliasBackward0": _replay_view,
    "PermuteBackward0": _replay_permute,
    "TransposeBackward0": _replay_transpose,
    "TransposeBackward1": _replay_transpose,
    "ExpandBackward0": _replay_expand,
    "SliceBackward0": _replay_slice,
    "SelectBackward0": _replay_select,
    "IndexSelectBackward0": _replay_index_select,
    "IndexBackward0": _replay_index,
    "RollBackward0": _replay_roll,
    "FlipBackward0": _replay_flip,
    "PixelShuffleBackward0": _replay_pixel_shuffle,
    "PixelUnshuffleBackward0": _replay_pixel_unshuffle,
    "MeanBackward1": _replay_reduce,
    "SumBackward1": _replay_reduce,
    "AmaxBackward0": _replay_reduce,
    "AminBackward0": _replay_reduce,
    "MaxBackward0": _replay_reduce,
    "StdBackward0": _replay_reduce,
    "VarBackward0": _replay_reduce,
    "ConstantPadNdBackward0": _replay_pad,
}
SPLITS = ("SplitBackward0", "SplitWithSizesBackward0", "UnsafeSplitBackward0", "UnbindBackward0")


VIEWS = (
    "ViewBackward0",
    "ReshapeAliasBackward0",
    "UnsafeViewBackward0",
    "SqueezeBackward0",
    "SqueezeBackward1",
    "SqueezeBackward2",
    "UnsqueezeBackward0",
    "AliasBackward0",
)
ONE_DIM = ("SliceBackward0", "SelectBackward0", "IndexSelectBackward0")
REDUCE = (
    "MeanBackward1",
    "SumBackward1",
    "AmaxBackward0",
    "AminBackward0",
    "MaxBackward0",
    "StdBackward0",
    "VarBackward0",
)


def _view_groups(src: Shape, dst: Shape) -> list[tuple[list[int], list[int]]] | None:
    """Consecutive dims of ``src`` and ``dst`` with equal products (a contiguous reshape maps group to group)."""
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        if i < len(src) and src[i] == 1:
            groups.append(([i], []))
            i += 1
            continue
        if j < len(dst) and dst[j] == 1:
            groups.append(([], [j]))
            j += 1
            continue
        if i >= len(src) or j >= len(dst):
            return None
        gi, gj, pi, pj = [i], [j], src[i], dst[j]
        while pi != pj:
            if pi < pj:
                i += 1
                if i >= len(src):
                    return None
                gi.append(i)
                pi *= src[i]
            else:
                j += 1
                if j >= len(dst):
                    return None
                gj.append(j)
                pj *= dst[j]
        groups.append((gi, gj))
        i, j = i + 1, j + 1
    return groups


def _small(shape: Shape, keep: set[int]) -> Shape:
    return tuple(s if d in keep else 1 for d, s in enumerate(shape))


def replay_op(fn: Any, space: Space, out: Shape) -> tuple[tuple[int, ...], torch.Tensor] | None:
    """(block dims, label per output channel coordinate) of shape op ``fn`` applied to ``space``; None if the op
    reduces the channels away. Raises ValueError if the channels get mixed with other dims.

    Dims that hold no channels are shrunk to size 1 first (the labels do not depend on them), so the replay
    costs the channel count, not the tensor size; ops acting only on such dims are mapped without a replay."""
    name = type(fn).__name__
    block = set(space.block or ())
    rank = len(space.shape)
    if name in ONE_DIM or name in REDUCE:
        dims = getattr(fn, "_saved_dim", None)
        dims = [_int(dims)] if isinstance(_int(dims), int) else list(_int(dims) or range(rank))
        dims = [_norm_dim(d, rank) for d in dims] or list(range(rank))
        if not block & set(dims):
            removed = sorted(dims) if (name == "SelectBackward0" or (name in REDUCE and not _keepdim(fn))) else []
            kept = [d - sum(r < d for r in removed) for d in sorted(block)]
            return tuple(kept), torch.arange(space.width)
        if name in REDUCE:
            return None
    small_in = _small(space.shape, block)
    small_out: Shape = out
    if name in VIEWS:
        groups = _view_groups(space.shape, out)
        if groups is None:
            raise ValueError(f"{name}: {list(space.shape)} -> {list(out)} is not a reshape")
        keep_out: set[int] = set()
        keep_in: set[int] = set()
        for gi, gj in groups:
            if block & set(gi):
                keep_in |= set(gi)
                keep_out |= set(gj)
        small_in, small_out = _small(space.shape, keep_in), _small(out, keep_out)
    elif name == "ExpandBackward0":
        shift = len(out) - rank
        small_out = tuple(out[d] if d - shift in block else 1 for d in range(len(out)))
    elif name == "ConstantPadNdBackward0":
        pad = list(_int(fn._saved_pad))
        small_out = tuple(
            s + (pad[2 * (rank - 1 - d)] + pad[2 * (rank - 1 - d) + 1] if 2 * (rank - 1 - d) + 1 < len(pad) else 0)
            for d, s in enumerate(small_in)
        )
    elif name in ("IndexBackward0", "PixelShuffleBackward0", "PixelUnshuffleBackward0"):
        small_in, small_out = space.shape, out  # indices and pixel shuffles address every dim: replay in full
    labels = REPLAY[name](_labels(Space(small_in, space.block)), fn, small_out)
    read = _read(labels)
    if read is None:
        if _mixes(labels):
            raise ValueError(f"{name} mixes channels with other dims")
        return None
    return read


def _keepdim(fn: Any) -> bool:
    return bool(getattr(fn, "_saved_keepdim", False))


def _split_outputs(labels: torch.Tensor, fn: Any) -> list[torch.Tensor]:
    name = type(fn).__name__
    dim = _norm_dim(fn._saved_dim, labels.dim())
    if name == "UnbindBackward0":
        return list(labels.unbind(dim))
    if hasattr(fn, "_saved_split_sizes"):
        return list(labels.split(list(fn._saved_split_sizes), dim))
    return list(labels.split(int(fn._saved_split_size), dim))


# ---------------------------------------------------------------- module spaces


def _module_block(module: Any, rank: int) -> tuple[int, ...] | None:
    """Channel dimension of a layer's output (and expected input) of rank ``rank``."""
    tp = torch_pruning()

    if isinstance(module, nn.Parameter):
        return None
    if rank < 1:
        return None
    if isinstance(module, (nn.Linear, nn.LayerNorm, nn.Embedding, nn.MultiheadAttention)):
        return (rank - 1,)
    if isinstance(module, (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.PReLU)):
        return (1,) if rank >= 2 else (0,)
    if isinstance(module, (tp.ops._OutputOp,)):
        return None
    return None


def _is_module_node(node: Any) -> bool:
    return isinstance(node.module, nn.Module) and not type(node.module).__module__.startswith("torch_pruning")


# ---------------------------------------------------------------- the mapping pass


class _Mapper:
    def __init__(self, dg: Any) -> None:
        self.dg = dg
        self.layout = Layout()
        self.by_fn = {node.grad_fn: node for node in dg.module2node.values() if node.grad_fn is not None}
        self.open: dict[Any, Partition] = {}  # node -> the view partition its multi-dim channel block came from
        self.contracted: set[Any] = set()  # ops that multiply the channels away (their space is their input)

    # -- spaces ---------------------------------------------------------------------------------------------
    def order(self) -> list[Any]:
        """Nodes with inputs before consumers (cycles from reused modules are cut)."""
        done: set[Any] = set()
        result: list[Any] = []
        for start in self.dg.module2node.values():
            stack = [(start, False)]
            while stack:
                node, expanded = stack.pop()
                if node in done:
                    continue
                if expanded:
                    done.add(node)
                    result.append(node)
                    continue
                stack.append((node, True))
                for parent in node.inputs:
                    if parent not in done:
                        stack.append((parent, False))
        return result

    def consumed(self, producer: Any, consumer: Any) -> list[int]:
        """Output numbers of ``producer`` that ``consumer``'s autograd node reads (positions kept in order)."""
        fn = consumer.grad_fn
        nrs = []
        for f, nr in getattr(fn, "next_functions", ()):
            if f is not None and f is producer.grad_fn:
                nrs.append(nr)
        return nrs

    def positions(self, producer: Any, consumer: Any) -> list[int]:
        """Argument positions of ``producer`` among ``consumer``'s autograd inputs."""
        return [
            k
            for k, (f, _) in enumerate(getattr(consumer.grad_fn, "next_functions", ()))
            if f is not None and f is producer.grad_fn
        ]

    def out_space(self, node: Any) -> Space | None:
        return self.layout.spaces.get(node)

    def tensor(self, node: Any, nr: int) -> tuple[Space, Relation | None] | None:
        """Space of output ``nr`` of ``node`` and the relation from ``node``'s own space to it (None: identity)."""
        space = self.out_space(node)
        if space is None or space.block is None:
            return None
        fn = node.grad_fn
        if type(fn).__name__ in SPLITS and _is_op_node(node):
            shape = _out_shape(fn, nr)
            if shape is None:
                return None
            dim = _norm_dim(fn._saved_dim, len(space.shape))
            if dim not in space.block:  # split along tokens or batch: every output has all the channels
                removed = type(fn).__name__ == "UnbindBackward0"
                return Space(shape, tuple(d - (removed and d > dim) for d in space.block)), None
            try:
                small = _small(space.shape, set(space.block))
                read = _read(_split_outputs(_labels(Space(small, space.block)), fn)[nr])
            except (AttributeError, IndexError, RuntimeError, ValueError):
                return None
            if read is None:
                return None
            block, labels = read
            return Space(shape, block), _relation(labels)
        return space, None

    def assign(self, node: Any) -> None:
        """Compute the space of ``node`` from its module type or its inputs; record why where channels are lost."""
        fn = node.grad_fn
        if isinstance(node.module, nn.Parameter):
            shape = tuple(node.module.shape)
            self.set(node, Space(shape, (_norm_dim(node.pruning_dim, len(shape)),) if shape else None))
            return
        shape = _out_shape(fn, 0)
        name = type(fn).__name__
        carriers = [i for i in node.inputs if self.out_space(i) is not None and self.out_space(i).block is not None]
        # a parameter's channel dim is a guess (torch-pruning: its last non-singleton dim); an activation decides
        activations = [i for i in carriers if not isinstance(i.module, nn.Parameter)]
        carriers = activations or carriers
        if _is_module_node(node):
            block = _module_block(node.module, len(shape)) if shape else None
            if shape and name in REPLAY and carriers:
                # a layer whose forward ends in a shape op (LayerNorm2d's permute back, a Linear's view back
                # to 3-D): its channels are where that op puts its input's channels
                found = self.tensor(carriers[0], (self.consumed(carriers[0], node) or [0])[0])
                try:
                    read = replay_op(fn, found[0], shape) if found else None
                except (AttributeError, IndexError, RuntimeError, ValueError, TypeError):
                    read = None
                if read is not None and len(read[0]) == 1:
                    block = read[0]
            self.set(node, Space(shape or (), block))
            return
        if not carriers:
            self.set(node, Space(shape or (), None))  # no channels reach this op (weights, constants)
            return
        first = self.narrowest(carriers, node) if name not in REPLAY and name not in SPLITS else carriers[0]
        found = self.tensor(first, (self.consumed(first, node) or [0])[0])
        if found is None:
            self.set(node, Space(shape or (), None), f"output of {_label(first)} cannot be mapped")
            return
        src = found[0]
        if name in SPLITS:  # indices refer to the split's input
            self.set(node, src)
            return
        if shape is None:
            self.set(node, Space((), None), f"no shape recorded for op {name}")
            return
        if name == "CatBackward0":
            if len(src.shape) == len(shape) and (
                len(src.block) == 1 or _norm_dim(fn._saved_dim, len(shape)) not in src.block
            ):
                self.set(node, Space(shape, src.block))
            else:
                self.set(node, Space(shape, None), f"concat at {_label(node)} joins channels split over several dims")
            return
        if name in REPLAY:
            try:
                read = replay_op(fn, src, shape)
            except ValueError:
                self.set(node, Space(shape, None), f"op {name} at {_label(node)} mixes channels with other dims")
                return
            except (AttributeError, IndexError, RuntimeError, TypeError) as exc:
                self.set(node, Space(shape, None), f"op {name} at {_label(node)} could not be replayed ({exc})")
                return
            self.set(node, Space(shape, read[0] if read else None))  # None: reduced over the channels
            if read is not None:
                self.track_split(node, first, src, Space(shape, read[0]), read[1])
            return
        # pass-through (elementwise, activation, a matmul operand): keep the block, aligned from the right
        shift = len(shape) - len(src.shape)
        block = tuple(d + shift for d in src.block)
        if any(d < 0 or d >= len(shape) for d in block):
            self.set(node, Space(shape, None), f"op {name} at {_label(node)} drops the channel dim")
            return
        if math.prod(shape[d] for d in block) != src.width:
            # a product over the channels (the matmul inside a Linear, a functional linear): its indices are the
            # channels it reads, which only the layer owning the weight consumes
            self.contracted.add(node)
            self.set(node, src)
            return
        self.set(node, Space(shape, block))
        if len(block) > 1 and first in self.open:
            self.open[node] = self.open[first]

    def track_split(self, node: Any, parent: Any, src: Space, dst: Space, labels: torch.Tensor) -> None:
        """Channels split over several dims by a view make a partition of the parent's channels into the top
        dim's slices; if a later op interleaves those slices (a channel shuffle's transpose), the partition is
        *aligned*: every slice must keep the same positions, or the shuffle after pruning is another one."""
        order_kept = bool((labels[1:] >= labels[:-1]).all()) if labels.numel() > 1 else True
        own = self.out_space(parent)
        if len(src.block) == 1 and len(dst.block) > 1 and src.width == dst.width and own == src:
            top = dst.shape[dst.block[0]]
            why = f"view into {top} x {dst.width // top} at {_label(node)}"
            part = Partition(parent, top, src.width, why)
            self.layout.partitions.append(part)
            self.open[node] = part
            return
        part = self.open.get(parent)
        if part is None:
            return
        if not order_kept and not part.aligned:
            part.aligned = True
            part.why = "channel shuffle: " + part.why
        if len(dst.block) > 1:
            self.open[node] = part

    def narrowest(self, carriers: list[Any], node: Any) -> Any:
        """The input whose channels define an elementwise op's: a single channel dim first, then the fewest
        channels (a residual add of the stream and an attention branch takes the stream's, not the branch's)."""

        def rank(carrier: Any) -> tuple[int, int]:
            found = self.tensor(carrier, (self.consumed(carrier, node) or [0])[0])
            if found is None:
                return (2, 0)
            return (0 if len(found[0].block) == 1 else 1, found[0].width)

        return min(carriers, key=rank)

    def settle_parameters(self) -> None:
        """Give a parameter added to or multiplying an activation (a position embedding (1, C, H, W), a layer
        scale) the channel dim of that activation, where the sizes agree."""
        for node in self.dg.module2node.values():
            if not isinstance(node.module, nn.Parameter):
                continue
            shape = tuple(node.module.shape)
            for consumer in node.outputs:
                if not _is_op_node(consumer) or type(consumer.grad_fn).__name__ in REPLAY:
                    continue
                dst = self.out_space(consumer)
                if dst is None or dst.block is None or len(dst.block) != 1 or consumer in self.contracted:
                    continue
                dim = dst.block[0] - (len(dst.shape) - len(shape))
                if 0 <= dim < len(shape) and shape[dim] == dst.shape[dst.block[0]]:
                    node.pruning_dim = dim
                    self.set(node, Space(shape, (dim,)))
                    break

    def set(self, node: Any, space: Space, unmapped: str = "") -> None:
        if space.block is not None and space.width > MAX_WIDTH:
            space, unmapped = Space(space.shape, None), unmapped or f"channels mixed with positions ({space.width})"
        self.layout.spaces[node] = space
        if unmapped:
            self.layout.unmapped[node] = unmapped

    # -- edges ----------------------------------------------------------------------------------------------
    def edge(self, producer: Any, consumer: Any) -> Any:
        """Mapping from ``producer``'s space to ``consumer``'s (None: identity)."""
        src = self.out_space(producer)
        if src is None or src.block is None:
            reason = self.layout.unmapped.get(producer)
            return Unmapped(reason) if reason else DROPPED
        if producer in self.contracted:
            return None if _is_module_node(consumer) else DROPPED
        nrs = self.consumed(producer, consumer) or [0]
        fn = consumer.grad_fn
        name = type(fn).__name__
        dst = self.out_space(consumer)
        forward: dict[int, list[int]] = {}
        identity = True
        for nr in dict.fromkeys(nrs):
            found = self.tensor(producer, nr)
            if found is None:
                return Unmapped(f"output {nr} of {_label(producer)} cannot be mapped")
            space, rel = found
            if _is_module_node(consumer):
                expected = _module_block(consumer.module, len(space.shape))
                if isinstance(consumer.module, nn.Parameter):
                    return DROPPED
                if expected is None or space.block != expected:
                    return Unmapped(
                        f"{_label(consumer)} reads the channels on dim {space.block} of a {list(space.shape)} tensor, "
                        f"not on its channel dim {expected}"
                    )
                step = rel
            elif name == "CatBackward0" and _is_op_node(consumer):
                step = self.cat_edge(producer, consumer, nr, space, rel)
                if isinstance(step, Unmapped):
                    return step
            elif name in SPLITS and _is_op_node(consumer):
                step = rel  # the split's space is its input
            elif name == "CopySlices" and _is_op_node(consumer) and self.positions(producer, consumer) != [0]:
                return Unmapped(f"an in-place write into a slice at {_label(consumer)} (x[:, a:b] += ...)")
            elif name in REPLAY and _is_op_node(consumer):
                if dst is None or dst.block is None:
                    return Unmapped(f"channels do not survive op {name} at {_label(consumer)}")
                try:
                    step = self.replay_edge(space, rel, fn, dst)
                except ValueError:
                    return Unmapped(f"op {name} at {_label(consumer)} mixes channels with other dimensions")
            else:  # pass-through (elementwise, activation, a matmul operand): torch-pruning's identity
                if dst is not None and dst.block is not None and not _same_dims(space, dst):
                    return Unmapped(f"op {name} at {_label(consumer)} combines tensors with channels on other dims")
                step = rel
            if step is None:
                for i in range(space.width):
                    forward.setdefault(i, []).append(i)
                continue
            identity = False
            for i, targets in step.forward.items():
                forward.setdefault(i, []).extend(targets)
        if identity and len(set(nrs)) == 1:
            return None
        return Relation({i: sorted(set(t)) for i, t in forward.items()})

    def cat_edge(self, producer: Any, consumer: Any, nr: int, space: Space, rel: Relation | None) -> Any:
        fn = consumer.grad_fn
        dst = self.out_space(consumer)
        rank = len(space.shape)
        dim = _norm_dim(fn._saved_dim, rank)
        if dst is None or dst.block is None:
            return Unmapped(f"concat at {_label(consumer)} has no channel dimension")
        if dim not in space.block:
            return rel  # concatenated along another dimension (tokens, batch): channels unchanged
        if len(space.block) != 1:
            return Unmapped(f"concat at {_label(consumer)} joins channels split over several dims")
        sizes = []
        for f, k in fn.next_functions:
            shape = _out_shape(f, k)
            sizes.append(shape[dim] if shape is not None and len(shape) == rank else None)
        if any(s is None for s in sizes):
            total = dst.shape[dim]
            known = sum(s for s in sizes if s is not None)
            if sum(s is None for s in sizes) != 1:
                return Unmapped(f"concat at {_label(consumer)} has inputs of unknown size")
            sizes = [total - known if s is None else s for s in sizes]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        spots = [offsets[k] for k, (f, knr) in enumerate(fn.next_functions) if f is producer.grad_fn and knr == nr]
        if rel is None:
            return Relation({i: [i + o for o in spots] for i in range(space.width)})
        return Relation({i: [m + o for m in mids for o in spots] for i, mids in rel.forward.items()})

    def replay_edge(self, space: Space, rel: Relation | None, fn: Any, dst: Space) -> Relation | None:
        """The op's mapping (None: identity); ValueError if it cannot be computed."""
        try:
            read = replay_op(fn, space, dst.shape)
        except (AttributeError, IndexError, RuntimeError, TypeError) as exc:
            raise ValueError(str(exc)) from exc
        if read is None or read[0] != dst.block:
            raise ValueError("channels land on other dims")
        mid = _relation(read[1]).forward
        if rel is None:
            return None if _identity(mid, space.width, dst.width) else Relation(mid)
        return Relation({i: [t for m in ms for t in mid.get(m, ())] for i, ms in rel.forward.items()})

    # -- partitions -----------------------------------------------------------------------------------------
    def partitions(self, node: Any) -> None:
        space = self.out_space(node)
        if space is None or space.block is None:
            return
        fn = node.grad_fn
        name = type(fn).__name__
        module = node.module
        if _is_module_node(node) and isinstance(module, nn.modules.conv._ConvNd):
            g = module.groups
            if g > 1 and not (g == module.out_channels == module.in_channels):
                self.layout.partitions.append(Partition(node, g, module.out_channels, f"grouped conv '{node._name}'"))
                self.layout.partitions.append(
                    Partition(node, g, module.in_channels, f"grouped conv '{node._name}' input", side="in")
                )
            return
        if _is_module_node(node) and isinstance(module, nn.GroupNorm) and module.num_groups > 1:
            why = f"GroupNorm '{node._name}' ({module.num_groups} groups)"
            self.layout.partitions.append(Partition(node, module.num_groups, module.num_channels, why))
            return
        if _is_module_node(node) and isinstance(module, nn.MultiheadAttention) and module.num_heads > 1:
            why = f"MultiheadAttention '{node._name}' ({module.num_heads} heads)"
            self.layout.partitions.append(Partition(node, module.num_heads, module.embed_dim, why))
            return
        if not _is_op_node(node):
            return
        if name in SPLITS and len(space.block) == 1:
            dim = _norm_dim(fn._saved_dim, len(space.shape))
            if dim == space.block[0]:
                sizes = [s[dim] for s in (_out_shape(fn, k) for k in range(len(fn._input_metadata))) if s is not None]
                if len(sizes) > 1 and len(set(sizes)) == 1 and name != "SplitWithSizesBackward0":
                    self.layout.partitions.append(Partition(node, len(sizes), space.width, f"chunk at {_label(node)}"))
                elif len(sizes) > 1 and len(set(sizes)) == 1 and self.one_size_attribute(fn, sizes[0], sizes):
                    why = f"split into equal sizes held by one attribute at {_label(node)}"
                    self.layout.partitions.append(Partition(node, len(sizes), space.width, why))
            return

    def one_size_attribute(self, fn: Any, size: int, sizes: list[int]) -> bool:
        """True when the module running a split holds its piece size as one int attribute and no list of the
        sizes (Ultralytics' ``split((self.c, self.c))``): the pieces can only shrink together."""
        owner = getattr(self.dg, "op_owner", {}).get(fn)
        model = getattr(self.dg, "model", None)
        if owner is None or model is None:
            return False
        try:
            attributes = vars(model.get_submodule(owner))
        except AttributeError:
            return False
        values = [v for k, v in attributes.items() if not k.startswith("_")]
        ints = any(isinstance(v, int) and not isinstance(v, bool) and v == size for v in values)
        lists = any(isinstance(v, (list, tuple)) and list(v) == sizes for v in values)
        return ints and not lists


def _mixes(labels: torch.Tensor) -> bool:
    """True if the labels vary but not along whole dimensions (channels mixed with other dims)."""
    return labels.numel() > 0 and bool((labels != labels.reshape(-1)[0]).any())


def _relation(labels: torch.Tensor) -> Relation:
    forward: dict[int, list[int]] = {}
    for coord, label in enumerate(labels.tolist()):
        if label >= 0:
            forward.setdefault(label, []).append(coord)
    return Relation(forward)


def _same_dims(src: Space, dst: Space) -> bool:
    """True if ``src``'s channel dims, aligned from the right, are ``dst``'s."""
    shift = len(dst.shape) - len(src.shape)
    return tuple(d + shift for d in src.block or ()) == tuple(dst.block or ())


def _identity(forward: dict[int, list[int]], width: int, out_width: int) -> bool:
    """True if the mapping sends every one of ``width`` indices to itself and nothing else exists downstream."""
    return width == out_width == len(forward) and all(targets == [i] for i, targets in forward.items())


def _is_op_node(node: Any) -> bool:
    return type(node.module).__module__.startswith("torch_pruning")


def _label(node: Any) -> str:
    if node._name:
        return f"'{node._name}'"
    return type(node.grad_fn).__name__ if node.grad_fn is not None else str(node.module)


def map_graph(dg: Any) -> Layout:
    """Compute every node's space and every edge's exact mapping; install them on ``dg``'s dependencies."""
    mapper = _Mapper(dg)
    for node in mapper.order():
        try:
            mapper.assign(node)
        except Exception as exc:  # an odd autograd node: its channels are unknown, never a crash
            mapper.layout.spaces[node] = Space((), None)
            mapper.layout.unmapped[node] = f"{type(exc).__name__}: {exc}"
    mapper.settle_parameters()
    for node in dg.module2node.values():
        node.enable_index_mapping = False
        for dep in node.dependencies:
            dep.index_mapping = [None, None]
    for node in dg.module2node.values():
        for consumer in node.outputs:
            try:
                mapping = mapper.edge(node, consumer)
            except Exception as exc:  # unknown op metadata: stop the group there, with the reason
                mapping = Unmapped(f"{type(exc).__name__} mapping {_label(node)} -> {_label(consumer)}")
            reverse = mapping.inverse() if isinstance(mapping, Relation) else mapping
            for dep in node.dependencies:
                if dep.target is consumer:
                    dep.index_mapping = [mapping, None]
            for dep in consumer.dependencies:
                if dep.target is node:
                    dep.index_mapping = [reverse, None]
        try:
            mapper.partitions(node)
        except Exception:  # a partition we cannot read is simply not recorded; verification still checks
            continue
    return mapper.layout
