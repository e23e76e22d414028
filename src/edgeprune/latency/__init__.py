"""Latency-aware pruning: per-layer latency tables measured on the target runtime, a whole-network latency model,
and a planner that meets a measured latency budget (``plan_to_latency``).

Layering: above export and bench (it exports micro-models and runs them with the bench runner), below report.
"""

from edgeprune.latency.model import LatencyModel, Sample
from edgeprune.latency.planner import LatencyBudget, LatencyPlanResult, build_latency_model, plan_to_latency
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.validate import Validation, validate_model

__all__ = [
    "LatencyBudget",
    "LatencyModel",
    "LatencyPlanResult",
    "LatencyTarget",
    "Sample",
    "Validation",
    "build_latency_model",
    "plan_to_latency",
    "validate_model",
]
