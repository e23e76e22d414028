"""One forward pass, everything recorded: MACs per layer, the module owning each autograd node, the layers that
produce the model output, and (on request) what block discovery needs.

Analysis used to run a forward pass per question (output layers, MACs, dependency graph, block residuals,
reference output shape); the dependency graph's traced forward now answers all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from edgeprune.graph.blocks import BlockCalls
from edgeprune.graph.cost import COUNTERS, Cost, mha_macs

ROOTS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists and dicts."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors(v)


class Recorder(TorchFunctionMode):
    """Use as ``with Recorder(model) as r: out = model(x)``, then read ``r.cost()``, ``r.output_layers(out)``,
    ``r.owner`` (autograd node -> module path) and ``r.blocks`` (with ``blocks=True``)."""

    def __init__(self, model: nn.Module, blocks: bool = False) -> None:
        super().__init__()
        self.model = model
        self.names: dict[nn.Module, str] = {}
        for n, m in model.named_modules():
            self.names.setdefault(m, n)
        self.owners = {id(p): n.rpartition(".")[0] for n, p in model.named_parameters(remove_duplicate=False)}
        self.stack: list[str] = []
        self.owner: dict[Any, str] = {}
        self.layers: dict[str, int] = {}
        self.muted = 0  # inside an nn.MultiheadAttention, counted whole by its hook
        self.produced: list[tuple[torch.Tensor, str]] = []  # kept alive so identity checks are sound
        self.order: list[str] = []
        self.blocks = BlockCalls() if blocks else None
        self.handles: list[Any] = []

    def __enter__(self) -> Recorder:
        modules = list(self.model.modules())
        self.handles = [m.register_forward_pre_hook(self._enter, with_kwargs=True) for m in modules]
        self.handles += [m.register_forward_hook(self._leave) for m in modules]
        try:
            return super().__enter__()
        except BaseException:
            self._remove()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._remove()

    def _remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def _enter(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        path = self.names.get(module, "")
        self.stack.append(path)
        if isinstance(module, nn.MultiheadAttention):
            query = args[0] if args else kwargs["query"]
            key = args[1] if len(args) > 1 else kwargs.get("key")
            self.layers[path] = self.layers.get(path, 0) + mha_macs(module, query, query if key is None else key)
            self.muted += 1

    def _leave(self, module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        if self.stack:
            self.stack.pop()
        if isinstance(module, nn.MultiheadAttention):
            self.muted -= 1
        path = self.names.get(module, "")
        if isinstance(module, ROOTS):
            self.order.append(path)
            self.produced.extend((t, path) for t in tensors(out))
        if self.blocks is not None and module is not self.model:
            self.blocks.on_output(path, args, out)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        counter = COUNTERS.get(func)
        if counter is not None and not self.muted and isinstance(out, torch.Tensor):
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            path = self.owners.get(id(weight)) if isinstance(weight, torch.Tensor) else None
            if path is None:
                path = self.stack[-1] if self.stack else ""
            self.layers[path] = self.layers.get(path, 0) + int(counter(args, kwargs, out))
        if self.stack:
            for t in tensors(out):
                if t.grad_fn is not None:
                    self.owner.setdefault(t.grad_fn, self.stack[-1])
        return out

    def cost(self) -> Cost:
        layers = {k: v for k, v in self.layers.items() if v}
        return Cost(layers=layers, macs=sum(layers.values()), params=sum(p.numel() for p in self.model.parameters()))

    def output_layers(self, out: Any) -> list[str]:
        """Layers whose output channels reach a model output unmixed: the output tensor itself, or (when traced
        with autograd) through reshapes, concatenations and elementwise activations only (a detector's heads,
        viewed and concatenated over levels); else the last Conv/Linear executed."""
        found: list[str] = []
        producers = {id(t.grad_fn): name for t, name in self.produced if t.grad_fn is not None}
        for tensor in tensors(out):
            for candidate, name in self.produced:
                if candidate is tensor and name not in found:
                    found.append(name)
            for name in _reaching_layers(tensor.grad_fn, producers):
                if name not in found:
                    found.append(name)
        if not found and self.order:
            found.append(self.order[-1])
        return found


# autograd nodes that move or keep channels without mixing them with other channels
_PASS_THROUGH = re.compile(
    r"^(View|UnsafeView|Reshape\w*|Cat|Permute|Transpose|Clone|Unsqueeze\w*|Squeeze\w*|Expand|Relu|Sigmoid|Exp"
    r"|Tanh|Hardsigmoid|Hardswish|Silu)Backward\d*$"
)


def _reaching_layers(node: Any, producers: dict[int, str], limit: int = 10_000) -> list[str]:
    """Layers (by ``producers``: autograd node id -> layer) whose outputs reach ``node`` through pass-through
    ops only."""
    found: list[str] = []
    todo, seen = [node], set()
    while todo and len(seen) < limit:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if id(current) in producers:
            found.append(producers[id(current)])
            continue
        if _PASS_THROUGH.match(type(current).__name__):
            todo.extend(fn for fn, _ in current.next_functions)
    return found


def output_shapes(out: Any) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in tensors(out)]
