"""Allocation of pruning ratios to a budget."""
