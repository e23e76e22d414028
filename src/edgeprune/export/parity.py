"""One parity helper for every exporter: the artifact vs the torch model on real samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgeprune.errors import ParityError
from edgeprune.export.artifact import Artifact

BOUNDS = {"fp32": 1e-4, "fp16": 1e-2}


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    """``||out - ref|| / ||ref||`` over the whole batch (relative to the output norm)."""
    denom = float(np.linalg.norm(ref))
    return float(np.linalg.norm(out.astype(np.float64) - ref.astype(np.float64)) / max(denom, 1e-12))


@dataclass(frozen=True)
class ParityReport:
    """Numbers from one parity check."""

    rel_err: float
    max_abs_err: float
    top1_agreement: float
    samples: int
    bound: float | None

    @property
    def passed(self) -> bool:
        return self.bound is None or self.rel_err <= self.bound


def torch_outputs(model: nn.Module, samples: torch.Tensor) -> list[np.ndarray]:
    """Every tensor the model returns (nested outputs flattened in order), as arrays."""
    from edgeprune.graph.record import tensors

    with torch.no_grad():
        out = model.eval()(samples)
    return [t.numpy() for t in tensors(out)]


def check_parity(
    artifact: Artifact, model: nn.Module, samples: torch.Tensor, bound: float | None = None, strict: bool = True
) -> ParityReport:
    """Compare ``artifact`` with ``model`` on ``samples``; raise :class:`ParityError` if over ``bound``. A model
    with several outputs (a detector's raw heads) is compared output by output; the worst relative error counts."""
    bound = BOUNDS.get(artifact.precision) if bound is None else bound
    refs = torch_outputs(model, samples)
    outs = artifact.run_batch_outputs(samples.numpy()) if len(refs) > 1 else [artifact.run_batch(samples.numpy())]
    if len(outs) != len(refs) or any(o.shape != r.shape for o, r in zip(outs, refs, strict=False)):
        raise ParityError(
            f"{artifact.path} ({artifact.runtime}) returns outputs {[o.shape for o in outs]}, the torch model"
            f" {[r.shape for r in refs]}"
        )
    out, ref = outs[0], refs[0]
    report = ParityReport(
        rel_err=max(relative_error(o, r) for o, r in zip(outs, refs, strict=True)),
        max_abs_err=max(float(np.max(np.abs(o - r))) for o, r in zip(outs, refs, strict=True)),
        top1_agreement=float(np.mean(out.argmax(1) == ref.argmax(1)) * 100.0),
        samples=len(samples),
        bound=bound,
    )
    if strict and not report.passed:
        raise ParityError(
            f"{artifact.path} ({artifact.runtime}, {artifact.precision}) diverges from the torch model:"
            f" relative error {report.rel_err:.3g} > bound {bound:.3g} on {report.samples} samples"
            f" (max abs {report.max_abs_err:.3g}, top-1 agreement {report.top1_agreement:.1f}%)"
        )
    return report
