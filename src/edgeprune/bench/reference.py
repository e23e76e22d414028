"""Built-in reference workloads: a ladder of seeded networks from ~0.05 to ~15 ms, one per latency class.

The regression gate stores each model's latency as a ratio to a reference measured beside it, so that
machine drift cancels. It only cancels when the reference suffers from the drift as the model does: on
this 2-core machine a memory-streaming neighbour on the other core moved the ratios of three torchvision
models to a tiny 3-conv net by up to 16-19% (mean 3.6-5.5%, two runs), their ratios to the rung nearest them
in latency by at most 3.2-5.8% (mean 1.1-1.4%) (benchmarks/latency/reference_drift.py). So the reference
is a *ladder*: the tiny net, then one inverted-residual network (MobileNetV2's body: depthwise and
pointwise convolutions) at growing width and input size, and every model is paired with the rung closest
to it in latency. Rungs scale width as well as input size so that weights grow with the work, as in real
models (a full-width net at 32 px is bound by streaming its 8.6 MB of weights: 0.9 ms).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError

LADDER = "builtin:ladder-v2"
CACHE_ENV = "EDGEPRUNE_BENCH_CACHE"  # where built rungs are kept (default ~/.cache/edgeprune/bench)
# (output channels, stride of the first block, blocks) of each stage: MobileNetV2's body, expansion 6
STAGES = ((16, 1, 1), (24, 2, 2), (32, 2, 3), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 1))


@dataclass(frozen=True)
class Rung:
    """One reference: the inverted-residual net at ``width`` (None: the tiny 3-conv net) on ``resolution`` px."""

    label: str
    width: float | None
    resolution: int

    @property
    def name(self) -> str:
        return f"{LADDER}/{self.label}"


# p50 ms of each rung alone here, 1 thread. LiteRT: 0.05, 0.11, 0.29, 0.94, 2.8, 7.3, 15.1; ONNX Runtime: 0.04,
# 0.21, 0.43, 1.0, 2.6, 7.0, 13.7. (v1 had w0.25 at 32 px: 0.03 ms on LiteRT, no step above the 3-conv net.)
RUNGS = (
    Rung("conv3-64px", None, 64),
    Rung("mbconv-w0.25-64px", 0.25, 64),
    Rung("mbconv-w0.35-96px", 0.35, 96),
    Rung("mbconv-w0.5-128px", 0.5, 128),
    Rung("mbconv-w0.75-160px", 0.75, 160),
    Rung("mbconv-w1.0-224px", 1.0, 224),
    Rung("mbconv-w1.4-224px", 1.4, 224),
)


def tiny_net():
    """The bottom rung: three strided 3x3 convs (16/32/64 channels) and a linear head, seed 0."""
    import torch
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        ).eval()  # fmt: skip


def _channels(base: int, width: float) -> int:
    return max(8, round(base * width / 8) * 8)


def reference_net(width: float = 1.0):
    """The ladder's network at ``width`` x MobileNetV2's channels, weights from seed 0 (same everywhere)."""
    import torch
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(0)
        cin = _channels(32, width)
        layers: list[nn.Module] = [nn.Conv2d(3, cin, 3, 2, 1), nn.ReLU6()]
        for base, stride, blocks in STAGES:
            cout = _channels(base, width)
            for i in range(blocks):
                hidden = 6 * cin
                layers += [
                    nn.Conv2d(cin, hidden, 1), nn.ReLU6(),
                    nn.Conv2d(hidden, hidden, 3, stride if i == 0 else 1, 1, groups=hidden), nn.ReLU6(),
                    nn.Conv2d(hidden, cout, 1),
                ]  # fmt: skip
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
        return nn.Sequential(*layers).eval()


def build_rung(runtime: str, rung: Rung, path: str | Path) -> Path:
    """Export ``rung`` for ``runtime`` to ``path`` (atomically)."""
    import torch

    from edgeprune.atomic import write_with

    net = tiny_net() if rung.width is None else reference_net(rung.width)
    x = torch.zeros(1, 3, rung.resolution, rung.resolution)
    if runtime == "litert":
        import litert_torch

        edge = litert_torch.convert(net, (x,))
        write_with(path, lambda tmp: edge.export(str(tmp)))
    elif runtime == "onnxruntime":
        write_with(path, lambda tmp: torch.onnx.export(net, (x,), str(tmp), dynamo=True, external_data=False))
    else:
        raise EdgepruneError(f"no built-in reference for runtime {runtime!r}; use litert or onnxruntime")
    return Path(path)


def default_cache_dir() -> Path:
    """``$EDGEPRUNE_BENCH_CACHE``, else ``~/.cache/edgeprune/bench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgeprune" / "bench")


def builtin_ladder(runtime: str, cache_dir: str | Path | None = None, rungs: Sequence[Rung] = RUNGS) -> dict[str, Path]:
    """Rung name -> artifact for ``runtime``; exported once, cached under ``cache_dir`` (default_cache_dir())."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    from edgeprune.formats import format_for_runtime

    ext = format_for_runtime(runtime).suffix
    tag = LADDER.split(":")[1]
    paths = {rung: cache_dir / f"reference-{tag}-{rung.label}{ext}" for rung in rungs}
    missing = [(rung, path) for rung, path in paths.items() if not path.is_file()]
    if missing:
        from edgeprune.logs import quiet
        from edgeprune.progress import progress_bar

        with progress_bar(f"building {runtime} reference ladder (once)", len(missing)) as bar:
            for rung, path in missing:
                with quiet():
                    build_rung(runtime, rung, path)
                bar.advance()
    return {rung.name: path for rung, path in paths.items()}


def nearest_rung(model_p50: float, rung_p50: Mapping[str, float]) -> str:
    """The rung whose latency is closest to ``model_p50`` on a log scale (ties: the first)."""
    if not rung_p50:
        raise EdgepruneError("no reference rungs to choose from")
    return min(rung_p50, key=lambda name: abs(math.log(rung_p50[name] / model_p50)))


def pick_rungs(
    models: Mapping[str, str | Path], ladder: Mapping[str, Path], probe: Callable[[list[Path]], list[float]]
) -> dict[str, str]:
    """Model name -> nearest rung, from ``probe`` (p50 of each given path, timed together in one process)."""
    rungs = list(ladder)
    picks = {}
    for name, path in models.items():
        p50 = probe([*ladder.values(), Path(path)])
        picks[name] = nearest_rung(p50[-1], dict(zip(rungs, p50[:-1], strict=True)))
    return picks
