"""analyze(): every prunable group and removable block of a model, with its share of MACs and params."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.graph.attention import SplitAttention, has_multihead_attention, split_all, splittable_attention
from edgeprune.graph.blocks import find_blocks
from edgeprune.graph.branches import branches_of, split_branch_path
from edgeprune.graph.cost import subtree_sum
from edgeprune.graph.depgraph import GroupInfo, build_graph, head_groups, iter_groups, resolve_layers
from edgeprune.graph.verify import apply_verdicts, verification_input, verify

HEAD_NOTE = (
    "cannot be split into heads ({why}): heads are tied to the embedding width; "
    "head dims shrink (equally per head) through group '{root}'"
)


@dataclass
class Analysis:
    """What can be pruned: groups (channel, neuron, embedding, head) and blocks, with cost shares."""

    input_shape: list[int]
    macs: int
    params: int
    groups: list[dict[str, Any]]
    blocks: list[dict[str, Any]]
    ignored: list[str]
    seconds: float
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    round_to: int = 1
    prunable_macs_share: float = 0.0  # MACs of layers some verified-prunable group shrinks (outputs or inputs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def group(self, root: str) -> dict[str, Any] | None:
        return next((g for g in self.groups if g["root"] == root), None)

    def left_alone(self) -> list[tuple[str, str]]:
        """(root, one-line reason) of every group that will not be pruned."""
        return [(g["root"], g["note"]) for g in self.groups if not g["prunable"]]


def _params(model: nn.Module) -> dict[str, int]:
    """Module path -> parameters held directly by it."""
    return {n: sum(p.numel() for p in m.parameters(recurse=False)) for n, m in model.named_modules()}


def _group_row(info: GroupInfo, macs: dict[str, int], params: dict[str, int], total: tuple[int, int]) -> dict[str, Any]:
    layers = list(dict.fromkeys(info.members + info.consumers))
    group_macs = sum(macs.get(n, 0) for n in layers)
    group_params = sum(subtree_sum(params, n) for n in layers)
    row = asdict(info)
    row["partitions"] = list(info.extra.get("partitions", []))
    row.pop("extra")
    row["macs_share"] = round(group_macs / max(total[0], 1), 6)
    row["params_share"] = round(group_params / max(total[1], 1), 6)
    return row


def _unsplit_head_rows(
    model: nn.Module, infos: list[GroupInfo], macs: dict[str, int], total_macs: int, why: dict[str, str]
) -> list[dict]:
    """Rows for attention layers left as ``nn.MultiheadAttention``: listed, not prunable in whole heads."""
    rows = []
    for path, module in model.named_modules():
        if not isinstance(module, nn.MultiheadAttention):
            continue
        owner = next((i.root for i in infos if path in i.members), "?")
        rows.append(
            {
                "root": path,
                "kind": "head",
                "width": module.num_heads,
                "members": [path],
                "consumers": [],
                "coupling": ["attention"],
                "channel_groups": module.num_heads,
                "prunable": False,
                "note": HEAD_NOTE.format(root=owner, why=why.get(path) or "not requested"),
                "verified": False,
                "partitions": [],
                "macs_share": round(macs.get(path, 0) / max(total_macs, 1), 6),
                "params_share": 0.0,
            }
        )
    return rows


def _block_cost(values: dict[str, int], model: nn.Module, path: str) -> int:
    """Cost below a block, or below the children a branch (``"block:branch"``) consists of."""
    block, branch = split_branch_path(path)
    if not branch:
        return subtree_sum(values, block)
    children = branches_of(model.get_submodule(block))[branch].children
    return sum(subtree_sum(values, f"{block}.{child}") for child in children)


def analyze(
    model: nn.Module,
    example_input: torch.Tensor,
    ignored_layers: Iterable[str | nn.Module] = (),
    verify_blocks: bool = True,
    name: str = "",
    split_heads: bool = True,
    round_to: int = 1,
    verify_groups: bool = True,
) -> Analysis:
    """Analyze ``model`` on ``example_input``; the classifier head is reported but never prunable.

    With ``split_heads`` the analysis runs on a copy whose self-attention layers are ``SplitAttention``
    (as :func:`edgeprune.prune.make_plan` prunes them): each gets a prunable ``head`` group. With
    ``verify_groups`` every group is pruned on a copy by one ``round_to`` step and run
    (:mod:`edgeprune.graph.verify`): a group is ``prunable`` only if that works, else ``note`` says why."""
    start = time.perf_counter()
    names = {m: n for n, m in model.named_modules()}
    ignored_layers = [names.get(m, "?") if isinstance(m, nn.Module) else m for m in ignored_layers]
    why = splittable_attention(model, example_input) if has_multihead_attention(model) else {}
    if split_heads and any(not reason for reason in why.values()):
        model = copy.deepcopy(model)
        split_all(model, example_input)
    dg = build_graph(model, example_input, blocks=True)
    ignored = resolve_layers(model, [*dg.outputs, *ignored_layers])
    ignored += [m.out_proj for m in ignored if isinstance(m, SplitAttention)]
    module_names = {m: n for n, m in model.named_modules()}
    cost = dg.cost
    macs = cost.layers
    params = _params(model)
    total = (cost.macs, sum(params.values()))
    group_pairs = iter_groups(dg, model, ignored)
    head_pairs = head_groups(dg, model, ignored)
    check_input = verification_input(model, example_input, dg.output_shapes) if verify_groups or verify_blocks else None
    if verify_groups:
        ignored_names = sorted(module_names[m] for m in ignored if m in module_names)
        verdicts = verify(
            dg, model, example_input, group_pairs, head_pairs, round_to, ignored_names, check_input=check_input
        )
        apply_verdicts(group_pairs + head_pairs, verdicts)
    rows = [_group_row(info, macs, params, total) for info, _ in group_pairs]
    for info, _ in head_pairs:
        row = _group_row(info, macs, params, total)
        own = macs.get(info.root, 0) / max(total[0], 1)  # scores and weighted sum scale with heads too
        row["macs_share"] = round(row["macs_share"] + own, 6)
        rows.append(row)
    rows += _unsplit_head_rows(model, [i for i, _ in group_pairs], macs, total[0], why if split_heads else {})
    order = {n: i for i, n in enumerate(module_names.values())}
    rows.sort(key=lambda r: order.get(r["root"], len(order)))
    blocks = []
    reference = dg.output_shapes[0] if len(dg.output_shapes) == 1 else list(dg.output_shapes)
    check = example_input if check_input is None else check_input  # same output shapes (checked when chosen)
    found = find_blocks(model, check, verify_blocks, True, calls=dg.block_calls, reference=reference)
    for b in found:
        blocks.append(
            {
                **asdict(b),
                "macs_share": round(_block_cost(macs, model, b.path) / max(total[0], 1), 6),
                "params_share": round(_block_cost(params, model, b.path) / max(total[1], 1), 6),
            }
        )
    touched = {n for r in rows if r["prunable"] for n in [*r["members"], *r["consumers"]]}
    return Analysis(
        prunable_macs_share=round(sum(macs.get(n, 0) for n in touched) / max(total[0], 1), 4),
        input_shape=list(example_input.shape),
        macs=total[0],
        params=total[1],
        groups=rows,
        blocks=blocks,
        ignored=list(dict.fromkeys(module_names[m] for m in ignored)),
        seconds=round(time.perf_counter() - start, 3),
        model=name or type(model).__name__,
        round_to=round_to,
    )
