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


def check_parity(
    artifact: Artifact, model: nn.Module, samples: torch.Tensor, bound: float | None = None, strict: bool = True
) -> ParityReport:
    """Compare ``artifact`` with ``model`` on ``samples``; raise :class:`ParityError` if over ``bound``."""
    bound = BOUNDS.get(artifact.precision) if bound is None else bound
    with torch.no_grad():
        ref = model.eval()(samples).numpy()
    out = artifact.run_batch(samples.numpy())
    report = ParityReport(
        rel_err=relative_error(out, ref),
        max_abs_err=float(np.max(np.abs(out - ref))),
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
