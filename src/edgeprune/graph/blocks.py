"""Block (layer) discovery: submodules that can be replaced by ``nn.Identity`` keeping every shape.

Two kinds are found from one traced forward pass:

- ``residual``: ``f`` in ``x + f(x)`` form, i.e. the module's output is an add that reads its own input
  (torchvision BasicBlock/Bottleneck without downsample, inverted residuals with skip, ConvNeXt blocks,
  ViT encoder layers, EdgeNet's blocks);
- ``sequence``: a shape-preserving child of an ``nn.Sequential`` (a plain layer in a stack);
- ``branch`` (on request): one residual branch of a block type registered in :mod:`edgeprune.graph.branches`
  (a ViT encoder block's attention or MLP branch), named ``"<block path>:<branch>"``.

Only the outermost candidates are kept (residual ones first), and they are verified by running the model
with the blocks replaced and checking the output shape (all at once, then one by one if that fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeprune.graph.branches import PassThrough, branches_of
from edgeprune.graph.hooks import forward_with_hooks

ROOTS = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)


@dataclass
class BlockInfo:
    """A removable block."""

    path: str
    type: str
    kind: str  # "residual", "sequence" or "branch"
    verified: bool = False


@dataclass
class _Call:
    count: int = 0
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    residual: bool = False


def _reads_input(out: torch.Tensor, inp: torch.Tensor, stop: set[Any], depth: int = 4) -> bool:
    """True if an add within ``depth`` autograd steps of ``out`` takes ``inp`` directly. The search does
    not enter ``stop`` (outputs of nested residual blocks), so a stage of blocks is not itself a block."""
    target = inp.grad_fn
    if target is None or out.grad_fn is None:
        return False
    frontier = [out.grad_fn]
    for _ in range(depth):
        nxt = []
        for fn in frontier:
            if fn in stop:
                continue
            children = [c for c, _ in fn.next_functions if c is not None]
            if "Add" in type(fn).__name__ and any(c is target for c in children):
                return True
            nxt.extend(children)
        frontier = nxt
    return False


class BlockCalls:
    """Per module path: call count, input/output shape and whether its output adds its own input (residual),
    recorded from forward hooks of one forward pass with autograd on."""

    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}
        self.residual_outputs: dict[str, Any] = {}  # path -> output grad_fn of blocks found residual so far

    def on_output(self, path: str, args: tuple[Any, ...], out: Any) -> None:
        call = self.calls.setdefault(path, _Call())
        call.count += 1
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if len(tensors) == 1 and len(args) == 1 and isinstance(out, torch.Tensor):
            call.in_shape, call.out_shape = tuple(tensors[0].shape), tuple(out.shape)
            # hooks fire children first, so nested residual blocks are already known here
            stop = {fn for p, fn in self.residual_outputs.items() if p.startswith(path + ".") or not path}
            call.residual = _reads_input(out, tensors[0], stop)
            if call.residual:
                self.residual_outputs[path] = out.grad_fn


def _record(model: nn.Module, example_input: torch.Tensor) -> dict[str, _Call]:
    names = {m: n for n, m in model.named_modules()}
    recorder = BlockCalls()

    def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        recorder.on_output(names[module], args, out)

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    forward_with_hooks(model, example_input, handles, grad=True)
    return recorder.calls


def _has_weights(module: nn.Module) -> bool:
    return any(isinstance(m, ROOTS) for m in module.modules())


def _below(path: str, others: list[str]) -> bool:
    return any(path.startswith(o + ".") or o.startswith(path + ".") or o == path for o in others)


def _output_shapes(model: nn.Module, example_input: torch.Tensor) -> Any:
    """The output's shape (one tensor), or the shapes of every tensor it holds (nested outputs, as traced)."""
    from edgeprune.graph.record import output_shapes  # record imports this module

    with torch.no_grad():
        out = model(example_input)
    return tuple(out.shape) if isinstance(out, torch.Tensor) else output_shapes(out)


def verify_blocks(model: nn.Module, paths: list[str], example_input: torch.Tensor, reference: Any) -> bool:
    """Swap every path for ``nn.Identity``, check the output shape equals ``reference``, swap back."""
    originals = {p: model.get_submodule(p) for p in paths}
    for p in paths:
        model.set_submodule(p, PassThrough())
    try:
        return _output_shapes(model, example_input) == reference
    except Exception:  # a failing forward means the blocks cannot go
        return False
    finally:
        for p, module in originals.items():
            model.set_submodule(p, module)


def _verify_branches(model: nn.Module, found: list[BlockInfo], example_input: torch.Tensor, reference: Any) -> None:
    """Remove every branch of one name at once (one forward per name), check the output shape, restore."""
    for name in dict.fromkeys(b.path.partition(":")[2] for b in found):
        same = [b for b in found if b.path.partition(":")[2] == name]
        originals = {b.path.partition(":")[0]: model.get_submodule(b.path.partition(":")[0]) for b in same}
        for path, module in originals.items():
            model.set_submodule(path, branches_of(module)[name].without(module))
        try:
            ok = _output_shapes(model, example_input) == reference
        except Exception:  # a failing forward means the branches cannot go
            ok = False
        finally:
            for path, module in originals.items():
                model.set_submodule(path, module)
        for b in same:
            b.verified = ok


def find_branches(
    model: nn.Module, example_input: torch.Tensor, verify: bool = True, reference: Any = None
) -> list[BlockInfo]:
    """Removable residual branches (``"<block>:<branch>"``) of registered block types, in module order."""
    found = [
        BlockInfo(f"{path}:{name}", type(module).__name__, "branch")
        for path, module in model.named_modules()
        if path
        for name in branches_of(module)
    ]
    if verify and found:
        was = model.training
        model.eval()
        try:
            reference = _output_shapes(model, example_input) if reference is None else reference
            _verify_branches(model, found, example_input, reference)
        finally:
            model.train(was)
        found = [b for b in found if b.verified]
    return found


def find_blocks(
    model: nn.Module,
    example_input: torch.Tensor,
    verify: bool = True,
    branches: bool = False,
    calls: dict[str, _Call] | None = None,
    reference: Any = None,
) -> list[BlockInfo]:
    """Removable blocks, outermost first in ``named_modules`` order; with ``branches``, residual branches
    (kind ``branch``) follow the block they belong to. ``calls`` and the ``reference`` output shape may come from
    a forward pass already run (see :func:`edgeprune.graph.depgraph.build_graph`)."""
    calls = _record(model, example_input) if calls is None else calls
    modules = dict(model.named_modules())
    order = {p: i for i, p in enumerate(modules)}
    shape_kept = [
        p
        for p, c in calls.items()
        if c.count == 1 and c.in_shape is not None and c.in_shape == c.out_shape and _has_weights(modules[p])
    ]
    shape_kept.sort(key=lambda p: (p.count("."), order[p]))  # outermost first
    residual: list[str] = []
    for path in shape_kept:
        if calls[path].residual and not any(path.startswith(r + ".") for r in residual):
            residual.append(path)
    sequence: list[str] = []
    for path in shape_kept:
        parent = modules[path.rpartition(".")[0]] if "." in path else model
        if isinstance(parent, nn.Sequential) and not _below(path, residual) and not _below(path, sequence):
            sequence.append(path)
    found = [BlockInfo(p, type(modules[p]).__name__, "residual") for p in residual]
    found += [BlockInfo(p, type(modules[p]).__name__, "sequence") for p in sequence]
    found.sort(key=lambda b: order[b.path])
    if verify and found:
        was = model.training
        model.eval()
        try:
            reference = _output_shapes(model, example_input) if reference is None else reference
            # every block keeps its own shape, so dropping all at once is the common case: one forward;
            # only if that fails is each block checked alone
            if verify_blocks(model, [b.path for b in found], example_input, reference):
                for block in found:
                    block.verified = True
            else:
                for block in found:
                    block.verified = verify_blocks(model, [block.path], example_input, reference)
        finally:
            model.train(was)
        found = [b for b in found if b.verified]
    if branches:
        found += find_branches(model, example_input, verify, reference)
        found.sort(key=lambda b: order.get(b.path.partition(":")[0], len(order)))
    return found
