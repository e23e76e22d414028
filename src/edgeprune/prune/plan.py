"""The Plan: plain data saying what a pruned model keeps, replayable on the unpruned architecture."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.atomic import read_json, write_json
from edgeprune.errors import EdgepruneError
from edgeprune.prune.schema import check_plan

PLAN_VERSION = 1


def _int(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EdgepruneError(f"plan: field '{field_name}' must hold integers, got {value!r}"[:200])
    return value


def _text(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise EdgepruneError(f"plan: field '{field_name}' must hold strings, got {value!r}"[:200])
    return value


@dataclass
class GroupKeep:
    """Output indices kept for one coupled group, in the root layer's original numbering.

    ``round_to`` is set when this group's width follows a finer step than the plan's ``round_to`` (a narrow group
    whose coarse widths could not reach the budget); None: the plan's."""

    root: str
    kind: str
    width: int
    keep: list[int]
    round_to: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.root, str) or not isinstance(self.kind, str):
            raise EdgepruneError(f"plan group {self.root!r}: fields 'root' and 'kind' must be strings")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise EdgepruneError(f"plan group '{self.root}': field 'width' must be a positive integer")
        if not isinstance(self.keep, (list, tuple)) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in self.keep
        ):
            raise EdgepruneError(f"plan group '{self.root}': field 'keep' must be a list of integers")
        self.keep = sorted(self.keep)
        if not self.keep:
            raise EdgepruneError(f"plan group '{self.root}': keeps no index (a group cannot be emptied)")
        if len(set(self.keep)) != len(self.keep) or self.keep[0] < 0 or self.keep[-1] >= self.width:
            raise EdgepruneError(f"plan group '{self.root}': keep indices must be unique, in 0..{self.width - 1}")
        if self.round_to is not None and (
            isinstance(self.round_to, bool) or not isinstance(self.round_to, int) or self.round_to < 1
        ):
            raise EdgepruneError(f"plan group '{self.root}': field 'round_to' must be a positive integer")

    def to_dict(self) -> dict[str, Any]:
        d = {"root": self.root, "kind": self.kind, "width": self.width, "keep": list(self.keep)}
        return d if self.round_to is None else {**d, "round_to": self.round_to}


@dataclass(frozen=True)
class LeftAlone:
    """A group the planner did not touch, and the one-line reason (not verified, ignored, too narrow...)."""

    root: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"root": self.root, "reason": self.reason}


@dataclass
class Plan:
    """What to prune: kept indices per group plus the blocks replaced by ``nn.Identity``.

    ``attention`` lists the ``nn.MultiheadAttention`` paths rebuilt as :class:`edgeprune.graph.attention.
    SplitAttention` before pruning (replayed first); a group of kind ``head`` keeps whole heads of one of them
    (``width`` = heads, ``keep`` = head indices). A block ``"path:branch"`` removes one residual branch
    (e.g. ``encoder.layers.encoder_layer_0:mlp``) instead of the whole block.

    ``left_alone`` lists the groups that were not pruned because analysis could not verify them (or they were
    ignored or too narrow), each with its reason; it is informational and not replayed.

    ``model`` holds the :class:`edgeprune.models.ModelSpec` fields (``spec``, ``num_classes``,
    ``in_channels``) when known, so :func:`edgeprune.prune.load_pruned` can rebuild the architecture.

    ``data`` records the data the plan was made on (``spec`` with absolute paths, and the user's ``preprocessing``
    or None), so the next command (``prune``, ``finetune``, ``export``, ``compare``) runs on the same data
    without ``--data``; ``baseline`` the unpruned weights it was made on (the user's ``checkpoint``, or the
    ``train_epochs`` of the cached baseline), so they replay it on the same weights without ``--checkpoint``.
    """

    input_shape: list[int]
    groups: list[GroupKeep] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None
    attention: list[str] = field(default_factory=list)
    round_to: int = 1
    importance: str = "magnitude"
    version: int = PLAN_VERSION
    left_alone: list[LeftAlone] = field(default_factory=list)
    data: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None

    def group(self, root: str) -> GroupKeep | None:
        return next((g for g in self.groups if g.root == root), None)

    @property
    def finer(self) -> dict[str, int]:
        """Group root -> the finer step its width follows (groups that could not stay on ``round_to``)."""
        return {g.root: g.round_to for g in self.groups if g.round_to is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model": dict(self.model) if self.model is not None else None,
            "input_shape": list(self.input_shape),
            "round_to": self.round_to,
            "importance": self.importance,
            "blocks": list(self.blocks),
            "attention": list(self.attention),
            "groups": [g.to_dict() for g in self.groups],
            "left_alone": [g.to_dict() for g in self.left_alone],
            **({"data": dict(self.data)} if self.data else {}),
            **({"baseline": dict(self.baseline)} if self.baseline else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if not isinstance(data, dict):
            raise EdgepruneError(f"plan: expected a JSON object, found {type(data).__name__}")
        version = data.get("version", PLAN_VERSION)
        if version != PLAN_VERSION:
            raise EdgepruneError(f"plan: field 'version' is {version!r}; this edgeprune reads version {PLAN_VERSION}")
        if "input_shape" not in data:
            raise EdgepruneError("plan: missing field 'input_shape'")
        check_plan(data)
        data = {"groups": [], **data}
        try:
            groups = [
                GroupKeep(g["root"], g.get("kind", "channel"), g["width"], g["keep"], g.get("round_to"))
                for g in data["groups"]
            ]
        except KeyError as exc:
            raise EdgepruneError(f"plan: a group entry lacks field {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise EdgepruneError(f"plan: field 'groups' is malformed ({exc})") from None
        try:
            left = [
                LeftAlone(_text(g["root"], "left_alone"), _text(g.get("reason", ""), "left_alone"))
                for g in data.get("left_alone", [])
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise EdgepruneError(f"plan: a left_alone entry lacks field {exc}") from None
        try:
            return cls(
                input_shape=[_int(d, "input_shape") for d in data["input_shape"]],
                groups=groups,
                blocks=[_text(b, "blocks") for b in data.get("blocks", [])],
                attention=[_text(a, "attention") for a in data.get("attention", [])],
                model=data.get("model"),
                round_to=_int(data.get("round_to", 1), "round_to"),
                importance=_text(data.get("importance", "magnitude"), "importance"),
                version=version,
                left_alone=left,
                data=data.get("data"),
                baseline=data.get("baseline"),
            )
        except TypeError as exc:
            raise EdgepruneError(f"plan: a field holds the wrong type ({exc})") from None

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan file; every error names the file."""
        data = read_json(path, "plan file")
        try:
            return cls.from_dict(data)
        except EdgepruneError as exc:
            raise EdgepruneError(f"{path}: {exc}") from None
