"""Dependency analysis: coupled channel/neuron groups, attention heads and removable blocks."""

from edgeprune.graph.analyze import Analysis, analyze
from edgeprune.graph.blocks import BlockInfo, find_blocks
from edgeprune.graph.depgraph import GroupInfo, build_graph, iter_groups, output_layers
from edgeprune.graph.trace import TraceError

__all__ = [
    "Analysis",
    "BlockInfo",
    "GroupInfo",
    "TraceError",
    "analyze",
    "build_graph",
    "find_blocks",
    "iter_groups",
    "output_layers",
]
