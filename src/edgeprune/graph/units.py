"""Pruning units: coupled groups plus the balance constraints between them.

A torch-pruning group says which layers lose the same indices; it does not say that some layers need their
indices removed *evenly*: a grouped convolution needs every one of its groups to lose the same number of input
(and output) channels, a chunk needs equal halves, a channel shuffle's view needs equal slices, a GroupNorm
equal groups. These are the :class:`~edgeprune.graph.layout.Partition` records.

Where one partition's slices hold channels of several groups (a grouped conv reading a concatenation of the
stem and two dense units), those groups become one *joint* unit, so that the planner removes the same number of
channels from every slice across all of them (upstream torch-pruning prunes each group alone and crashes in the
grouped conv: "INDICES element is out of DATA bounds"). A unit's indices are its members' root indices, one member
after the other.

A partition whose slices are later interleaved (a channel shuffle) needs more than equal counts: every slice must
keep the same positions, or the shuffle of the pruned tensor is a different permutation. Its indices at the same
position in every slice form a *bundle*, removed whole. Bundles that every partition treats alike (same slices)
form *cells*, cut into pieces with equal numbers of bundles; removing the same number of bundles from every cell
keeps every slice of every partition balanced if one bundle per cell removes as many channels from each slice,
which is checked; otherwise the unit is left unpruned with the reason.
"""

from __future__ import annotations

import math
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
    bundles: list[int] = field(default_factory=list)  # indices with the same bundle id are removed together

    def bundle_members(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for u, b in enumerate(self.bundles or range(self.width)):
            found.setdefault(b, []).append(u)
        return found

    @property
    def bundle_size(self) -> int:
        return math.gcd(*(len(v) for v in self.bundle_members().values())) if self.width else 1

    @property
    def plain(self) -> bool:
        """Every index stands alone and cells are consecutive slices: the classic ``channel_groups`` case."""
        return self.bundle_size == 1 and len(self.bundle_members()) == self.width and self.contiguous

    def valid(self, keep: list[int]) -> bool:
        """True if ``keep`` keeps whole bundles and the same number of bundles in every cell."""
        kept = set(keep)
        per_cell: dict[int, int] = {}
        for members in self.bundle_members().values():
            inside = [u in kept for u in members]
            if any(inside) and not all(inside):
                return False
            per_cell.setdefault(self.cells[members[0]], 0)
            if all(inside):
                per_cell[self.cells[members[0]]] += 1
        return len(set(per_cell.values())) <= 1

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


def _is_layer(node: Any) -> bool:
    return isinstance(node.module, nn.Module) and not type(node.module).__module__.startswith("torch_pruning")


def _at(group: CoupledGroup, node: Any, side: str = "out") -> dict[int, int]:
    """Index at ``node`` -> root index, over the items of ``group`` targeting ``node`` (for a layer: on ``side``)."""
    layer = _is_layer(node)
    found: dict[int, int] = {}
    for item in group:
        if item.dep.target is node and (not layer or _side(item) == side):
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
    """Units from groups ``(root path, root module, full group)`` (in module order) and the graph's partitions."""
    touch: list[dict[int, dict[int, int]]] = [{} for _ in groups]  # group -> partition -> {index at node: root}
    union = _Union(len(groups))
    problems: dict[int, str] = {}
    for p, part in enumerate(partitions):
        hits = []
        for g, (_, _, group) in enumerate(groups):
            at = _at(group, part.node, part.side)
            if at:
                touch[g][p] = at
                hits.append(g)
        if not hits:
            continue
        if sum(len(touch[g][p]) for g in hits) < part.width:
            for g in hits:
                problems.setdefault(g, f"{part.why}: its slices also hold channels no prunable group owns")
            continue
        for g in hits[1:]:
            union.join(hits[0], g)
    classes: dict[int, list[int]] = {}
    for g in range(len(groups)):
        classes.setdefault(union.find(g), []).append(g)
    return [_unit(members, groups, touch, partitions, problems) for members in classes.values()]


def _unit(
    members: list[int],
    groups: list[tuple[str, nn.Module, CoupledGroup]],
    touch: list[dict[int, dict[int, int]]],
    partitions: list[Partition],
    problems: dict[int, str],
) -> UnitGroup:
    problem = next((problems[g] for g in members if g in problems), "")
    member_list: list[Member] = []
    items: list[Item] = []
    unmapped: list[str] = []
    tied: list[tuple[int, int]] = []
    offset = 0
    for g in members:
        path, module, group = groups[g]
        roots = group[0].root_idxs
        to_unit = {r: offset + k for k, r in enumerate(roots)}
        offset += len(roots)
        member_list.append(Member(path, module, group, to_unit))
        unmapped += group.unmapped
        tied += [(to_unit.get(a, a), to_unit.get(b, b)) for a, b in group.tied]
        for item in group:
            pairs = [(i, to_unit[r]) for i, r in zip(item.idxs, item.root_idxs, strict=True) if r in to_unit]
            items.append(Item(item.dep, [i for i, _ in pairs], [u for _, u in pairs]))
    if len(member_list) > 1:
        # importance takes the unit width from the first item: lead with a scoreless item over the whole unit
        op = next((it for it in items if not _is_layer(it.dep.target)), None)
        if op is None:
            problem = problem or "joint unit without a shared op"
        else:
            items.insert(0, Item(op.dep, list(range(offset)), list(range(offset))))
    cells, bundles, names = _cells(offset, member_list, members, touch, partitions)
    if cells is None:
        problem = problem or names[0]
        cells, bundles, names = [0] * offset, list(range(offset)), []
    return UnitGroup(
        items=items,
        unmapped=unmapped,
        tied=tied,
        members=member_list,
        cells=cells,
        problem=problem,
        partitions=names,
        bundles=bundles,
    )


def _summary(names: list[str], skip: str = "") -> str:
    """``N balance constraints (a, b, ...)``: distinct names, at most three."""
    distinct = [n for n in dict.fromkeys(names) if n != skip]
    if not distinct:
        return "itself"
    shown = "; ".join(distinct[:3]) + (" ..." if len(distinct) > 3 else "")
    return f"{len(names) - (skip in names)} balance constraints ({shown})"


def _cells(
    width: int,
    member_list: list[Member],
    members: list[int],
    touch: list[dict[int, dict[int, int]]],
    partitions: list[Partition],
) -> tuple[list[int] | None, list[int], list[str]]:
    """(cell id, bundle id) per unit index; cells None (with the reason) if the partitions cannot stay balanced."""
    used = sorted({p for g in members for p in touch[g]})
    if not used:
        return [0] * width, list(range(width)), []
    slot: list[list[int | None]] = [[None] * len(used) for _ in range(width)]
    local: list[list[int | None]] = [[None] * len(used) for _ in range(width)]
    for k, p in enumerate(used):
        size = partitions[p].width // partitions[p].parts
        for m, g in zip(member_list, members, strict=True):
            for i, r in touch[g].get(p, {}).items():
                u = m.to_unit.get(r)
                if u is not None and i < partitions[p].width:
                    slot[u][k], local[u][k] = i // size, i % size
    names = [partitions[p].why for p in used]
    union = _Union(width)
    for k, p in enumerate(used):
        if partitions[p].aligned:
            first: dict[int, int] = {}
            for u in range(width):
                if local[u][k] is not None:
                    union.join(u, first.setdefault(local[u][k], u))
    bundles = [union.find(u) for u in range(width)]
    members_of: dict[int, list[int]] = {}
    for u, b in enumerate(bundles):
        members_of.setdefault(b, []).append(u)
    by_key: dict[tuple, list[int]] = {}
    for b, units in members_of.items():
        key = tuple(tuple(sorted(slot[u][k] for u in units if slot[u][k] is not None)) for k in range(len(used)))
        by_key.setdefault(key, []).append(b)
    piece = math.gcd(*(len(v) for v in by_key.values()))
    bundle_cell: dict[int, int] = {}
    cell_key: list[tuple] = []
    for key, group in by_key.items():
        for start in range(0, len(group), piece):
            for b in group[start : start + piece]:
                bundle_cell[b] = len(cell_key)
            cell_key.append(key)
    for k, p in enumerate(used):
        per_slice = [0] * partitions[p].parts
        for key in cell_key:
            for s in key[k]:
                per_slice[s] += 1
        if len(set(per_slice)) > 1:
            return None, [], [f"{names[k]} cannot stay balanced with {_summary(names, names[k])}"]
    if piece == 1:
        return None, [], [f"{_summary(names)} leave no index free to remove (every slice would lose all)"]
    return [bundle_cell[b] for b in bundles], _dense(bundles), names
