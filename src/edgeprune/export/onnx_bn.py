"""Fold every BatchNormalization the ONNX optimizer left (e.g. BN not after a conv) into Mul + Add."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError


def _attr(node: Any, name: str, default: float) -> float:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _ranks(model: Any) -> dict[str, int]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: len(v.type.tensor_type.shape.dim) for v in infos if v.type.tensor_type.HasField("shape")}


def fold_batchnorm(model: Any) -> int:
    """Rewrite inference BatchNormalization nodes in place as ``x * s + t``; returns how many were folded."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    bn_nodes = [n for n in graph.node if n.op_type == "BatchNormalization"]
    if not bn_nodes:
        return 0
    ranks = _ranks(model)
    new_nodes = []
    for node in graph.node:
        if node.op_type != "BatchNormalization":
            new_nodes.append(node)
            continue
        if _attr(node, "training_mode", 0) or len(node.output) > 1:
            raise EdgepruneError(f"ONNX node '{node.name}' is a BatchNormalization in training mode; export in eval()")
        x, *params = node.input
        if any(p not in inits for p in params) or x not in ranks:
            raise EdgepruneError(f"ONNX node '{node.name}': BatchNormalization with non-constant statistics")
        gamma, beta, mean, var = (numpy_helper.to_array(inits[p]).astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + _attr(node, "epsilon", 1e-5))
        shift = beta - mean * scale
        shape = (len(scale),) + (1,) * max(ranks[x] - 2, 0)
        s_name, t_name, mid = f"{node.output[0]}__bn_scale", f"{node.output[0]}__bn_shift", f"{node.output[0]}__bn_mul"
        graph.initializer.append(numpy_helper.from_array(scale.reshape(shape).astype(np.float32), s_name))
        graph.initializer.append(numpy_helper.from_array(shift.reshape(shape).astype(np.float32), t_name))
        new_nodes.append(helper.make_node("Mul", [x, s_name], [mid], name=f"{node.name}_mul"))
        new_nodes.append(helper.make_node("Add", [mid, t_name], [node.output[0]], name=f"{node.name}_add"))
    del graph.node[:]
    graph.node.extend(new_nodes)
    used = {i for n in graph.node for i in n.input}
    stale = [i for i in graph.initializer if i.name not in used]
    for init in stale:
        graph.initializer.remove(init)
    return len(bn_nodes)
