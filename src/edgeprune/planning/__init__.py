"""Planning: per-group ratios and blocks that meet a budget (uniform or sensitivity-allocated), tolerance search,
iterative schedules. Every planner verifies by pruning for real and counting exactly."""

from edgeprune.planning.budget import plan_to_budget
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.result import FILL, Planned, rounding_notes
from edgeprune.planning.tolerance import ToleranceResult, smallest_within
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting, uniform_to_budget

__all__ = [
    "FILL",
    "PlanOptions",
    "Planned",
    "ToleranceResult",
    "plan_to_budget",
    "prune_uniform",
    "rounding_notes",
    "smallest_ratio_meeting",
    "smallest_within",
    "uniform_to_budget",
]
