"""What connection pruning to do: target sparsity, pattern, ramp and which layers (a frozen, validated record)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeprune.errors import ConfigError
from edgeprune.sparsity.patterns import Pattern, parse_pattern


@dataclass(frozen=True)
class SparsityOptions:
    """Connection pruning during fine-tuning.

    ``sparsity``: fraction of zeros in every chosen layer's weight at the end (N:M patterns fix it to
    1 - N/M; leave it None or give that value). ``pattern``: ``unstructured``, ``N:M`` or ``RxC``.
    ``ramp``: (begin, end) of the cubic schedule as fractions of the fine-tune steps; after ``end`` the mask
    is final and only epochs from there on may be chosen as the best. ``every``: optimizer steps between
    mask updates (0: about 16 updates over the ramp). ``layers``: Conv/Linear paths to sparsify (empty: every
    layer the pattern fits); ``skip``: paths left dense.
    """

    sparsity: float | None = None
    pattern: str = "unstructured"
    ramp: tuple[float, float] = (0.0, 0.75)
    every: int = 0
    layers: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        pattern = parse_pattern(self.pattern)
        fixed = pattern.fixed_sparsity
        if self.sparsity is None and fixed is None:
            raise ConfigError(f"prune.sparsity is required with prune.pattern '{self.pattern}'")
        if self.sparsity is not None and not 0.0 < float(self.sparsity) < 1.0:
            raise ConfigError(f"prune.sparsity is {self.sparsity}; it must lie in (0, 1)")
        if fixed is not None and self.sparsity is not None and not math.isclose(self.sparsity, fixed, abs_tol=1e-6):
            raise ConfigError(
                f"prune.sparsity {self.sparsity} does not match prune.pattern '{self.pattern}' (always {fixed:g})"
            )
        begin, end = self.ramp
        if not 0.0 <= begin <= end <= 1.0:
            raise ConfigError(f"sparsity ramp {self.ramp}: need 0 <= begin <= end <= 1 (fractions of the steps)")
        if self.every < 0:
            raise ConfigError(f"sparsity every={self.every}: must be >= 0")

    @property
    def parsed(self) -> Pattern:
        return parse_pattern(self.pattern)

    @property
    def target(self) -> float:
        """Final sparsity of each chosen layer."""
        fixed = self.parsed.fixed_sparsity
        return float(fixed if fixed is not None else self.sparsity)


def fit_steps(n_train: int, batch_size: int, epochs: int, steps: int = 0) -> int:
    """Optimizer steps a fine-tune runs (``steps`` wins when > 0), as :func:`edgeprune.finetune.fit` counts them."""
    return steps if steps > 0 else epochs * math.ceil(n_train / batch_size)
