"""Sensitivity analysis: each group pruned alone at a ratio grid, each block dropped alone; cached, plotted."""

from edgeprune.sensitivity.result import BlockPoint, GroupCurve, Point, Sensitivity
from edgeprune.sensitivity.scan import DEFAULT_RATIOS, ScanOptions, scan, sensitivity

__all__ = ["DEFAULT_RATIOS", "BlockPoint", "GroupCurve", "Point", "ScanOptions", "Sensitivity", "scan", "sensitivity"]
