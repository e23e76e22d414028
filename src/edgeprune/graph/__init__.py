"""Dependency analysis: coupled channel/neuron groups, attention heads and removable blocks."""

from edgeprune.graph.analyze import Analysis, analyze
from edgeprune.graph.attention import SplitAttention, split_all, split_attention
from edgeprune.graph.blocks import BlockInfo, find_blocks, find_branches
from edgeprune.graph.depgraph import GroupInfo, build_graph, head_groups, iter_groups, output_layers
from edgeprune.graph.trace import TraceError

__all__ = [
    "Analysis",
    "BlockInfo",
    "GroupInfo",
    "SplitAttention",
    "TraceError",
    "analyze",
    "build_graph",
    "find_blocks",
    "find_branches",
    "head_groups",
    "iter_groups",
    "output_layers",
    "split_all",
    "split_attention",
]
