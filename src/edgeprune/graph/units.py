"""Pruning units: coupled groups plus the balance constraints between them.

A torch-pruning group says which layers lose the same indices; it does not say that some layers need their
indices removed *evenly*: a grouped convolution needs every one of its groups to lose the same number of input
(and output) channels, a chunk needs equal halves, a channel shuffle's view needs equal slices. These are the
:class:`~edgeprune.graph.layout.Partition` records. Here each group becomes a unit whose indices are split into
*cells* (the product of the partitions it crosses) of equal size; pruning takes the same number from every cell.

Where one partition's slices hold channels of several groups (a grouped conv reading a concatenation of the
stem and two dense units), those groups become one *joint* unit, numbered in the partition's channel order,
so that the planner removes the same number of channels from every slice across all of them (upstream
torch-pruning prunes each group alone and crashes in the grouped conv: "INDICES element is out of DATA bounds").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgeprune.graph.layout import Partition
from edgeprune.graph.search import CoupledGroup, Item


@dataclass
class Member:
    """One group inside a unit: its root layer, full group, and root index -> unit index."""

    path: str
    module: nn.Module
    group: CoupledGroup
    to_unit: dict[int, int]


@dataclass
class UnitGroup(CoupledGroup):
    """A unit: items in unit numbering (for importance), its members, cells and why it cannot be pruned."""

    members: list[Member] = field(default_factory=list)
    cells: list[int] = field(default_factory=list)
    problem: str = ""
    partitions: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.cells)

    @property
    def cell_count(self) -> int:
        return len(set(self.cells)) if self.cells else 1

    @property
    def contiguous(self) -> bool:
        """Cells are equal consecutive slices of the unit numbering (``keep_indices`` can keep the same slots)."""
        n, w = self.cell_count, self.width
        return w % n == 0 and all(c == i // (w // n) for i, c in enumerate(_dense(self.cells)))

    def drops(self, drop: list[int]) -> list[tuple[Member, list[int]]]:
        """Unit indices to drop -> (member, root indices of that member to drop)."""
        wanted = set(drop)
        return [(m, sorted(r for r, u in m.to_unit.items() if u in wanted)) for m in self.members]


def _dense(cells: list[Any]) -> list[int]:
    ids: dict[Any, int] = {}
    return [ids.setdefault(c, len(ids)) for c in cells]


def _side(item: Item) -> str:
    return "out" if "out" in getattr(item.dep.handler, "__name__", "out") else "in"


def _at(group: CoupledGroup, node: Any, side: str = "out") -> dict[int, int]:
    """Index at ``node`` -> root index, over the items of ``group`` targeting ``node`` (for a layer: on ``side``)."""
    is_layer = isinstance(node.module, nn.Module) and not type(node.module).__module__.startswith("torch_pruning")
    found: dict[int, int] = {}
    for item in group:
        if item.dep.target is node and (not is_layer or _side(item) == side):
            for i, r in zip(item.idxs, item.root_idxs, strict=True):
                found.setdefault(i, r)
    return found


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def build_units(groups: list[tuple[str, nn.Module, CoupledGroup]], partitions: list[Partition]) -> list[UnitGroup]:
    """Units from groups ``(root path, root module, full group)`` and the graph's partitions."""
    touch: list[dict[int, dict[int, int]]] = [{} for _ in groups]  # group -> partition -> {index at node: root}
    union = _Union(len(groups))
    joint_site: dict[int, int] = {}  # unit representative -> partition that joined it
    problems: dict[int, str] = {}
    for p, part in enumerate(partitions):
        hits = []
        for g, (_, _, group) in enumerate(groups):
            at = _at(group, part.node, part.side)
            if at:
                touch[g][p] = at
                hits.append(g)
        covered = sum(len(touch[g][p]) for g in hits)
        if not hits:
            continue
        if covered < part.width:
            for g in hits:
                problems.setdefault(g, f"{part.why}: its slices also hold channels no prunable group owns")
            continue
        for g in hits[1:]:
            union.join(hits[0], g)
        if len(hits) > 1:
            joint_site[union.find(hits[0])] = p
    classes: dict[int, list[int]] = {}
    for g in range(len(groups)):
        classes.setdefault(union.find(g), []).append(g)
    units = [_unit(members, groups, touch, partitions, joint_site, union, problems) for members in classes.values()]
    return units


def _unit(
    members: list[int],
    groups: list[tuple[str, nn.Module, CoupledGroup]],
    touch: list[dict[int, dict[int, int]]],
    partitions: list[Partition],
    joint_site: dict[int, int],
    union: _Union,
    problems: dict[int, str],
) -> UnitGroup:
    rep = union.find(members[0])
    problem = next((problems[g] for g in members if g in problems), "")
    if len(members) == 1:
        path, module, group = groups[members[0]]
        width = len(group[0].idxs)
        to_unit = {r: r for r in group[0].root_idxs}
        member_list = [Member(path, module, group, to_unit)]
        items = list(group.items)
        unmapped, tied = list(group.unmapped), list(group.tied)
    else:
        site = joint_site.get(rep)
        part = partitions[site] if site is not None else None
        member_list, items, unmapped, tied = [], [], [], []
        width = part.width if part is not None else 0
        for g in members:
            path, module, group = groups[g]
            at = touch[g].get(site, {}) if site is not None else {}
            to_unit = {r: i for i, r in at.items()}
            member_list.append(Member(path, module, group, to_unit))
            unmapped += group.unmapped
            tied += group.tied
            for item in group:
                mapped = [(i, to_unit[r]) for i, r in zip(item.idxs, item.root_idxs, strict=True) if r in to_unit]
                items.append(Item(item.dep, [i for i, _ in mapped], [u for _, u in mapped]))
        # first item: the joint site itself, whole (importance takes the unit width from the first item)
        site_node = part.node if part is not None else None
        head = [it for it in items if it.dep.target is site_node and (part is None or _side(it) == part.side)]
        if head:
            merged: dict[int, int] = {}
            for it in head:
                merged.update(zip(it.idxs, it.root_idxs, strict=True))
            order = sorted(merged)
            items = [Item(head[0].dep, order, [merged[i] for i in order])] + [it for it in items if it not in head]
        partial = [m.path for m in member_list if len(m.to_unit) != len(m.group[0].idxs)]
        if part is None or partial:
            where = part.why if part is not None else "several slice constraints"
            problem = (
                problem or f"joint with other groups through {where}, but not every channel of {partial} reaches it"
            )
    cells, names = _cells(width, member_list, members, touch, partitions)
    if cells is None:
        problem = problem or names[0]
        cells, names = [0] * width, []
    return UnitGroup(
        items=items,
        unmapped=unmapped,
        tied=tied,
        members=member_list,
        cells=cells,
        problem=problem,
        partitions=names,
    )


def _cells(
    width: int,
    member_list: list[Member],
    members: list[int],
    touch: list[dict[int, dict[int, int]]],
    partitions: list[Partition],
) -> tuple[list[int] | None, list[str]]:
    """Cell id per unit index (product of every partition crossed); None (with the reason) if unequal."""
    key: list[list[int]] = [[] for _ in range(width)]
    names: list[str] = []
    used = sorted({p for g in members for p in touch[g]})
    for p in used:
        part = partitions[p]
        size = part.width // part.parts
        slot = [-1] * width
        for m, g in zip(member_list, members, strict=True):
            for i, r in touch[g].get(p, {}).items():
                u = m.to_unit.get(r)
                if u is not None:
                    slot[u] = i // size
        if any(s < 0 for s in slot):
            return None, [f"{part.why} is reached by only some of the group's channels"]
        for u in range(width):
            key[u].append(slot[u])
        names.append(part.why)
    cells = _dense([tuple(k) for k in key])
    counts: dict[int, int] = {}
    for c in cells:
        counts[c] = counts.get(c, 0) + 1
    if len(set(counts.values())) > 1:
        return None, [f"{' and '.join(names)} split the channels into unequal slices"]
    return cells, names
