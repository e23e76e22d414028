"""What a planner is asked for: the budget and the limits every planner respects."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.errors import EdgepruneError

# latency: served by an injected cost (edgeprune.latency, or Vela's cycles in edgeprune.embedded); memory: device
# memory from edgeprune.embedded (TFLM's arena, Vela's SRAM or flash)
KINDS = ("macs", "params", "latency", "memory")


@dataclass(frozen=True)
class PlanOptions:
    """Budget (``kind`` fraction of the unpruned model), rounding, limits, ignored layers, blocks, BN handling."""

    budget: float = 0.5
    kind: str = "macs"  # macs | params
    round_to: int = 1
    max_ratio: float = 0.9
    ignored_layers: tuple[str, ...] = ()
    use_blocks: bool = True
    objectives: tuple[str, ...] = ("metric", "loss")  # damage measures tried; the best measured plan wins
    recalibrate: int = 256  # choosing samples re-estimating BatchNorm statistics of the pruned model (0: off)
    fill: float = 0.95  # grow groups back until the exact fraction is at least fill x budget (where widths allow)
    attempts: int = 8

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise EdgepruneError(f"budget kind '{self.kind}' is unknown (known: {list(KINDS)})")
        if not 0.0 < self.budget <= 1.0:
            raise EdgepruneError(f"{self.kind} budget {self.budget} must be a fraction in (0, 1]")
        if self.round_to < 1:
            raise EdgepruneError(f"round_to is {self.round_to}; it must be >= 1")
        if not 0.0 < self.max_ratio < 1.0:
            raise EdgepruneError(f"max_ratio {self.max_ratio} must lie in (0, 1)")
