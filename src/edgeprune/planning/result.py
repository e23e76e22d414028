"""What every planner returns: a verified plan, the pruned copy it was counted on, and the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgeprune.prune import Plan


@dataclass
class Planned:
    """A plan pruned for real and counted exactly; ``predicted`` is the metric the pruned model (BatchNorm
    recalibrated on choosing samples) scored on choosing samples, never on validation."""

    plan: Plan
    model: nn.Module
    kind: str
    budget: float
    macs: int
    params: int
    base_macs: int
    base_params: int
    method: str
    predicted: float | None = None  # metric on choosing samples after the documented BN recalibration
    base_metric: float | None = None  # the unpruned model's metric on the same samples
    details: dict[str, Any] = field(default_factory=dict)
    measured_fraction: float | None = None  # kinds not counted here (latency): the fraction measured on the target

    @property
    def fraction(self) -> float:
        if self.measured_fraction is not None:
            return self.measured_fraction
        return (self.macs / self.base_macs) if self.kind == "macs" else (self.params / self.base_params)

    def summary(self) -> dict[str, Any]:
        """Plain-data record stored beside the plan (``planning`` field of plan.json)."""
        return {
            "method": self.method,
            "budget": {"kind": self.kind, "fraction": self.budget},
            "reached": {"kind": self.kind, "fraction": round(self.fraction, 6)},
            "macs": self.macs,
            "params": self.params,
            "base_macs": self.base_macs,
            "base_params": self.base_params,
            "macs_fraction": round(self.macs / self.base_macs, 6),
            "params_fraction": round(self.params / self.base_params, 6),
            "predicted_metric": None if self.predicted is None else round(self.predicted, 4),
            "base_metric": None if self.base_metric is None else round(self.base_metric, 4),
            **self.details,
        }


FILL = 0.95  # a MACs/params budget is honoured from below: at least this fraction of it where the widths allow


def rounding_notes(planned: Planned, round_to: int) -> list[str]:
    """What people must know about the budget and ``round_to``: narrow groups that fell back to finer steps, and a
    budget reached below :data:`FILL` of the request with the groups whose steps block it."""
    notes = []
    finer = planned.plan.finer
    if finer:
        widths = {g.root: g.width for g in planned.plan.groups}
        groups = ", ".join(f"{root} ({widths[root]} wide: steps of {step})" for root, step in finer.items())
        notes.append(
            f"round_to {round_to} could not reach {FILL:.2f} of the {planned.kind} budget {planned.budget:.3f}x;"
            f" narrow group(s) {groups} use a finer step (recorded per group in the plan)"
        )
    if planned.kind != "latency" and planned.fraction < FILL * planned.budget:
        blocked = planned.details.get("blocked_by") or []
        why = (
            f"the steps of {', '.join(blocked[:5])} allow no closer cut"
            if blocked
            else f"no closer cut was found (round_to {round_to}, finer steps for narrow groups included)"
        )
        notes.append(f"the {planned.kind} budget {planned.budget:.3f}x was reached at {planned.fraction:.3f}x: {why}")
    return notes
