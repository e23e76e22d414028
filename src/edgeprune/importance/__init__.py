"""Importance criteria: one file per criterion, each a callable scoring every index of a coupled group."""

from edgeprune.importance.registry import IMPORTANCE, Criterion, get_importance, known_importances, register_importance

__all__ = ["IMPORTANCE", "Criterion", "get_importance", "known_importances", "register_importance"]
