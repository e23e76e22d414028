"""Sensitivity results: per group, metric and loss at each ratio pruned alone; per block, dropped alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.atomic import read_json, write_json
from edgeprune.errors import EdgepruneError

RESULT_VERSION = 1


@dataclass
class Point:
    """One measurement: the model with one group pruned at ``ratio`` (or one block dropped)."""

    ratio: float
    keep: int
    metric: float
    loss: float
    macs: int
    params: int
    estimate: float = 0.0  # first-order predicted loss increase


@dataclass
class GroupCurve:
    """A coupled group's curve (metric vs ratio) and what the group is."""

    root: str
    kind: str
    width: int
    channel_groups: int
    members: list[str]
    consumers: list[str]
    coupling: list[str]
    points: list[Point] = field(default_factory=list)


@dataclass
class BlockPoint:
    """One removable block dropped alone."""

    path: str
    type: str
    point: Point


@dataclass
class Sensitivity:
    """Everything a scan measured, plus the settings and base numbers it is keyed by."""

    model: str
    data: str
    samples: int
    ratios: list[float]
    importance: str
    round_to: int
    metric_name: str
    base: Point
    groups: list[GroupCurve]
    blocks: list[BlockPoint]
    input_shape: list[int]
    estimate: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True
    seconds: float = 0.0
    key: str = ""
    version: int = RESULT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sensitivity:
        if data.get("version") != RESULT_VERSION:
            raise EdgepruneError(f"sensitivity: field 'version' is {data.get('version')!r}, expected {RESULT_VERSION}")
        try:
            groups = [GroupCurve(**{**g, "points": [Point(**p) for p in g["points"]]}) for g in data["groups"]]
            blocks = [BlockPoint(b["path"], b["type"], Point(**b["point"])) for b in data["blocks"]]
            rest = {k: v for k, v in data.items() if k not in ("groups", "blocks", "base")}
            return cls(groups=groups, blocks=blocks, base=Point(**data["base"]), **rest)
        except (KeyError, TypeError) as exc:
            raise EdgepruneError(f"sensitivity: malformed result ({exc})") from None

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Sensitivity:
        return cls.from_dict(read_json(path, "sensitivity file"))

    def group(self, root: str) -> GroupCurve | None:
        return next((g for g in self.groups if g.root == root), None)

    def drop(self, point: Point) -> float:
        """How much worse ``point``'s metric is than the unpruned model's (positive = worse)."""
        return self.base.metric - point.metric if self.higher_is_better else point.metric - self.base.metric

    def ranking(self) -> list[tuple[str, float]]:
        """Groups by mean metric drop over the grid, most sensitive first."""
        drops = [(g.root, sum(self.drop(p) for p in g.points) / max(len(g.points), 1)) for g in self.groups]
        return sorted(drops, key=lambda item: -item[1])
