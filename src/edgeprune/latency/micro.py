"""Micro-models: one latency unit rebuilt at given channel counts (seeded random weights), its example input,
and a signature naming everything that decides its latency (module types and settings, shapes).

For TFLite the micro-model takes and returns channels-last tensors (``nhwc`` export plus a final permute), so
the file holds the layer alone: no layout transposes that the whole network would not run either.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeprune.latency.units import ACTIVATIONS, FREE, LAYERS, NORMS, POOLS, Unit

SIGNATURE_VERSION = 1


class ChannelsLastOutput(nn.Module):
    """Wraps a micro-model so a 4-D output leaves channels-last (cancels the converter's output transpose)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y.permute(0, 2, 3, 1) if y.dim() == 4 else y


def _resized(module: nn.Module, cin: int, cout: int) -> nn.Module | None:
    """A fresh module of the same kind and settings with ``cin`` inputs and ``cout`` outputs (None: cannot)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.groups == 1:
            groups = 1
        elif module.groups == module.in_channels == module.out_channels and cin == cout:
            groups = cin
        elif cin % module.groups == 0 and cout % module.groups == 0:
            groups = module.groups
        else:
            return None
        return type(module)(
            cin,
            cout,
            module.kernel_size,
            module.stride,
            module.padding,
            module.dilation,
            groups,
            module.bias is not None,
            module.padding_mode,
        )
    if isinstance(module, nn.Linear):
        return nn.Linear(cin, cout, module.bias is not None)
    if isinstance(module, NORMS):
        norm = type(module)(cout, module.eps, module.momentum, module.affine, module.track_running_stats)
        if norm.running_var is not None:
            norm.running_var.uniform_(0.5, 1.5)
            norm.running_mean.normal_()
        return norm
    if isinstance(module, (*ACTIVATIONS, *POOLS, *FREE)):
        return copy.deepcopy(module)
    return None


def build_micro(
    model: nn.Module, unit: Unit, kin: int | None, kout: int | None, seed: int = 0
) -> tuple[nn.Module, torch.Tensor] | None:
    """The unit at kept counts ``kin``/``kout`` (None: full) and an input for it; None if a module cannot resize."""
    cin, cout = unit.channels(kin, kout)
    layers: list[nn.Module] = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for i, path in enumerate(unit.modules):
            module = model.get_submodule(path)
            first = i == 0 and isinstance(module, LAYERS)
            resized = _resized(module, cin if first else cout, cout)
            if resized is None:
                return None
            layers.append(resized)
        body = nn.Sequential(*layers).eval()
        example = torch.randn(1, cin, *unit.in_shape[2:])
    return body, example


def null_micro() -> tuple[nn.Module, torch.Tensor]:
    """The cheapest micro-model (one ReLU on 8 values): what the runner charges every micro-model regardless."""
    return nn.Sequential(nn.ReLU()).eval(), torch.ones(1, 8, 1, 1)


IO_PROBE_SHAPES = tuple((1, c, s, s) for c in (16, 64) for s in (7, 14, 28, 56, 112))


def io_probes() -> list[tuple[tuple[int, ...], int, nn.Module, torch.Tensor]]:
    """(shape, depth, micro-model, example): chains of ``depth`` (1 or 2) pointwise depthwise convs.

    One conv-type micro-model costs its compute plus what the runner and the file add around any such layer
    (input/output copies, layout changes, the call itself); two chained cost twice the compute and the same
    overhead, so ``2 * t1 - t2`` is that overhead at this activation size."""
    probes = []
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for shape in IO_PROBE_SHAPES:
            for depth in (1, 2):
                layers = [nn.Conv2d(shape[1], shape[1], 1, groups=shape[1]) for _ in range(depth)]
                probes.append((shape, depth, nn.Sequential(*layers).eval(), torch.randn(shape)))
    return probes


def signature(micro: nn.Module, example: torch.Tensor, fmt: str, precision: str) -> str:
    """What decides a micro-model's latency: format, precision, every module's settings, the input shape."""
    parts = [f"v{SIGNATURE_VERSION}", fmt, precision, "x".join(map(str, example.shape))]
    parts += [f"{type(m).__name__}({m.extra_repr()})" for m in micro.modules() if not list(m.children())]
    return "|".join(parts)


def export_ready(micro: nn.Module, example: torch.Tensor, fmt: str) -> tuple[nn.Module, dict[str, object]]:
    """The module handed to the exporter and its format options (channels-last I/O for 4-D TFLite)."""
    if fmt == "tflite" and example.dim() == 4:
        return ChannelsLastOutput(micro).eval(), {"nhwc": True}
    return micro, {}
