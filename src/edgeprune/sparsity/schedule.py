"""The gradual pruning schedule of Zhu & Gupta 2017 ("To prune, or not to prune", arXiv:1710.01878, eq. 1).

    s_t = s_f + (s_i - s_f) * (1 - (t - t_0) / (t_1 - t_0))^3   for t_0 <= t <= t_1

Sparsity rises fast while the network has many redundant weights and slowly near the target, then
stays at ``s_f`` so the remaining steps recover accuracy with the final mask.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class CubicSchedule:
    """Sparsity at each optimizer step: ``initial`` until ``begin``, cubic to ``final`` at ``end``."""

    final: float
    begin: int
    end: int
    initial: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial <= self.final < 1.0:
            raise EdgepruneError(f"sparsity schedule: need 0 <= initial <= final < 1, got {self.initial}, {self.final}")
        if not 0 <= self.begin <= self.end:
            raise EdgepruneError(f"sparsity schedule: need 0 <= begin <= end steps, got {self.begin}, {self.end}")

    def at(self, step: int) -> float:
        """Target sparsity after ``step`` optimizer steps."""
        if step >= self.end:
            return self.final
        if step <= self.begin:
            return self.initial
        progress = (step - self.begin) / (self.end - self.begin)
        return self.final + (self.initial - self.final) * (1.0 - progress) ** 3
