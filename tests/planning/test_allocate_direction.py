"""The allocator's metric damage follows the metric's direction (an error metric gets worse upwards)."""

from __future__ import annotations

from edgeprune.planning.allocate import damage_of
from edgeprune.sensitivity.result import Point


def _point(metric: float) -> Point:
    return Point(ratio=0.5, keep=4, metric=metric, loss=1.0, macs=1, params=1)


def test_damage_is_a_drop_for_accuracy_and_a_rise_for_an_error() -> None:
    base, worse_acc, higher_err = _point(90.0), _point(80.0), _point(95.0)
    assert damage_of(worse_acc, base, "metric") == 10.0
    assert damage_of(higher_err, base, "metric") == 0.0  # an accuracy that rose: no damage
    assert damage_of(higher_err, base, "metric", higher_is_better=False) == 5.0  # an error that rose: damage
    assert damage_of(worse_acc, base, "metric", higher_is_better=False) == 0.0


def test_fill_swaps_that_tie_pick_one_and_stay_within_budget() -> None:
    """Every single step overshoots; two swaps (c up with a down, or with b down) tie on the fraction: the fill
    takes one of them (it never compares the moves themselves) and stays within the budget."""
    from edgeprune.planning.fill import grow

    weights = {"a": 2, "b": 2, "c": 3}

    class Cost:
        def fraction(self, kept, dropped, kind):
            return sum(weights[r] * f for r, f in kept.items()) / sum(weights.values())

    class Info:
        width, channel_groups = 4, 1

    keeps = grow({"a": 2, "b": 2, "c": 2}, {r: Info() for r in weights}, Cost(), [], 0.56, "macs", 1)
    assert keeps["c"] == 3 and sorted([keeps["a"], keeps["b"]]) == [1, 2]
    assert Cost().fraction({r: k / 4 for r, k in keeps.items()}, [], "macs") == 15 / 28
