"""Fast estimate of the loss increase of pruning, from gradients alone (no pruned model is evaluated).

Removing parameters ``w_S`` (the rows of a group's producing layers for the pruned indices ``S``, or a
block's output replaced by its input) changes the loss by, to second order with the empirical Fisher,

    dL(S) ~= -mean_b s_b + 0.5 * B * mean_b s_b^2,      s_b = g_b . w_S  (per mini-batch b of size B)

The factor B rescales mini-batch gradient outer products to the per-sample Fisher. Per-index sums of
``g . w`` are stored per batch, so any subset ``S`` is cheap to evaluate afterwards.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.importance.gradients import for_each_batch
from edgeprune.importance.group import NORMS, is_out, local_scores, reduce_group


class GradientEstimator:
    """Per-batch, per-index first-order terms for each group, and per-batch terms for each block."""

    def __init__(self, micro_batch: int = 16, max_samples: int = 512) -> None:
        self.micro_batch = micro_batch
        self.max_samples = max_samples
        self.group_terms: dict[str, torch.Tensor] = {}  # root -> (batches, width)
        self.block_terms: dict[str, torch.Tensor] = {}  # path -> (batches,)

    def collect(
        self,
        model: nn.Module,
        groups: dict[str, Any],
        blocks: list[str],
        x: torch.Tensor,
        y: torch.Tensor,
        loss: Any = None,
    ) -> None:
        """One gradient pass: ``groups`` maps root -> torch-pruning group (full indices) built on ``model``;
        ``blocks`` are module paths whose output would be replaced by their input."""
        rows: dict[str, list[torch.Tensor]] = {root: [] for root in groups}
        terms: dict[str, list[float]] = {p: [] for p in blocks}
        captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def make_hook(path: str) -> Any:
            def hook(_m: nn.Module, args: tuple, out: Any) -> None:
                if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor) and out.requires_grad:
                    out.retain_grad()
                    captured[path] = (args[0].detach().clone(), out)

            return hook

        def on_batch(params: dict) -> None:
            products = {k: g * w for k, (_, _, w, g) in params.items()}

            def score(name: str, _layer: nn.Module, attr: str) -> torch.Tensor | None:
                return products.get(f"{name}.{attr}")

            def local(dep: Any, idxs: list[int]) -> list[torch.Tensor]:
                if not (is_out(dep) or isinstance(dep.target.module, NORMS)):
                    return []
                return local_scores(dep, idxs, score)

            for root, group in groups.items():
                rows[root].append(reduce_group(group, local, normalize=False, mean=False))
            for p in blocks:
                inp, out = captured.get(p, (None, None))
                ok = out is not None and out.grad is not None and inp.shape == out.shape
                terms[p].append(float((out.grad * (inp - out.detach())).sum()) if ok else 0.0)
            captured.clear()

        n = min(len(x), self.max_samples)
        handles = [model.get_submodule(p).register_forward_hook(make_hook(p)) for p in blocks]
        try:
            for_each_batch(model, x[:n], y[:n], self.micro_batch, on_batch, loss=loss)
        finally:
            for h in handles:
                h.remove()
        self.group_terms = {root: torch.stack(r).double() for root, r in rows.items() if r}
        self.block_terms = {p: torch.tensor(v, dtype=torch.float64) for p, v in terms.items()}

    def _combine(self, s: torch.Tensor) -> float:
        """Predicted loss increase from per-batch first-order terms ``s`` (s_b = -dL_b for group removal)."""
        return float(-s.mean() + 0.5 * self.micro_batch * (s * s).mean()) if s.numel() else 0.0

    def group(self, root: str, removed: list[int]) -> float:
        terms = self.group_terms.get(root)
        if terms is None or not removed:
            return 0.0
        return self._combine(terms[:, removed].sum(1))

    def block(self, path: str) -> float:
        terms = self.block_terms.get(path)
        # dL ~= g . (x - y): that is +s, so negate before the shared combiner
        return self._combine(-terms) if terms is not None else 0.0


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman rank correlation (ties averaged); None when undefined (fewer than 3 points or constant)."""
    if len(a) != len(b) or len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(a, b).statistic
    return None if rho != rho else round(float(rho), 4)
