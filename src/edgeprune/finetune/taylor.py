"""Taylor importance accumulated while fine-tuning: sum over steps of |g * w| per weight (Molchanov et al., 2019).

Used as a :class:`edgeprune.finetune.loop.Callback`; its sums ride along in checkpoints. To score a group,
:meth:`TaylorTracker.installed` puts surrogate gradients ``acc / |w|`` in ``.grad`` so torch-pruning's
group Taylor criterion (which reduces ``|w * grad|`` over every coupled layer) reads the accumulated sums.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from edgeprune.data import Data, batches
from edgeprune.prune.importance import Scorer
from edgeprune.task import CLASSIFICATION, Task


class TaylorTracker:
    """Accumulate first-order Taylor saliency per parameter element across training steps."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def after_backward(self, model: nn.Module) -> None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.grad is None:
                    continue
                saliency = (p.grad * p).abs().to("cpu")
                prev = self.sums.get(name)
                self.sums[name] = saliency if prev is None or prev.shape != saliency.shape else prev + saliency
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "sums": {k: v.clone() for k, v in self.sums.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.sums = {k: v.clone() for k, v in state["sums"].items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0

    @contextmanager
    def installed(self, model: nn.Module) -> Iterator[Scorer]:
        """Within the block ``.grad`` holds surrogates and the yielded scorer reads the accumulated saliency."""
        from edgeprune.graph.upstream import torch_pruning

        tp = torch_pruning()

        saved = {name: p.grad for name, p in model.named_parameters()}
        try:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    acc = self.sums.get(name)
                    if acc is None or acc.shape != p.shape:
                        p.grad = torch.zeros_like(p)
                    else:
                        p.grad = acc.to(p.device) / p.abs().clamp_min(1e-12)
            yield tp.importance.GroupTaylorImportance()
        finally:
            for name, p in model.named_parameters():
                p.grad = saved[name]


def scoring_pass(
    model: nn.Module, data: Data, tracker: TaylorTracker, task: Task = CLASSIFICATION, batch_size: int = 256
) -> None:
    """One pass of task-loss gradients over the train split (no update, eval-mode BatchNorm) into ``tracker``."""
    was = model.training
    model.eval()
    try:
        for x, y in batches(data.train, batch_size):
            model.zero_grad(set_to_none=True)
            task.loss(model(x), y).backward()
            tracker.after_backward(model)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)
