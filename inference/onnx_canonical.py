"""Puts an ONNX graph in a canonical form, so that equal models serialize to equal bytes.

tf2onnx's optimizers walk sets of node objects, whose order follows memory addresses: two
conversions of the same checkpoints give the same computation with nodes in another order and
other generated names ("axes_const__113__238" in one build, "const_fold_opt__305" in the next),
hence another sha256, and every release would roll Triton for nothing. Here every tensor gets a
key that depends only on what computes it (the op, its attributes and the keys of its inputs,
down to the graph inputs and the initializers' bytes); nodes are ordered topologically with ties
broken by key, and renamed by position. Graph inputs and outputs keep their names.

Runs inside the build venv (needs onnx); imported by musicnn_to_onnx.py.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any

import onnx
from onnx import numpy_helper


class CanonicalFormError(ValueError):
    """The graph has a shape this canonical form does not cover (subgraphs, duplicate nodes)."""


def canonicalize(model: onnx.ModelProto) -> None:
    """Reorders and renames the model's nodes and initializers in place (see the module doc)."""
    graph = model.graph
    subgraph_types = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    if any(attr.type in subgraph_types for node in graph.node for attr in node.attribute):
        raise CanonicalFormError("nodes with subgraphs (If, Loop, Scan) are not supported")
    # Any topological order will do to compute the keys; the keys then choose the order.
    keys = _tensor_keys(graph, _topological_order(graph, list(range(len(graph.node)))))
    node_keys = [_node_key(node, keys) for node in graph.node]
    if len(set(node_keys)) != len(node_keys):
        raise CanonicalFormError("two nodes compute the same thing from the same inputs")
    order = _topological_order(graph, node_keys)
    names = _canonical_names(graph, keys, [graph.node[i] for i in order])
    nodes = [_renamed(graph.node[i], names, position) for position, i in enumerate(order)]
    initializers = _unique_initializers(graph, keys, names)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    # Shape annotations of intermediate tensors are optional and would carry the old names.
    del graph.value_info[:]


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _tensor_keys(graph: onnx.GraphProto, order: list[int]) -> dict[str, str]:
    """Tensor name => key, computed along a topological order of the nodes."""
    keys = {"": ""}  # an omitted optional input
    for value in graph.input:
        keys[value.name] = _digest("input", value.name)
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        keys[tensor.name] = _digest("initializer", str(tensor.data_type), repr(list(tensor.dims)), array.tobytes())
    for node in (graph.node[i] for i in order):
        node_key = _node_key(node, keys)
        for index, output in enumerate(node.output):
            keys[output] = _digest(node_key, str(index))
    return keys


def _node_key(node: onnx.NodeProto, keys: dict[str, str]) -> str:
    attributes = sorted(attr.SerializeToString(deterministic=True) for attr in node.attribute)
    return _digest(node.domain, node.op_type, *attributes, *(keys[name] for name in node.input))


def _topological_order(graph: onnx.GraphProto, priority: list[Any]) -> list[int]:
    """Kahn's algorithm, always taking the ready node of lowest priority; raises on a cycle."""
    producer = {output: i for i, node in enumerate(graph.node) for output in node.output}
    waiting_on = [sum(1 for name in node.input if name in producer) for node in graph.node]
    consumers: dict[int, list[int]] = {i: [] for i in range(len(graph.node))}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name in producer:
                consumers[producer[name]].append(i)
    ready = [(priority[i], i) for i, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for consumer in consumers[i]:
            waiting_on[consumer] -= 1
            if waiting_on[consumer] == 0:
                heapq.heappush(ready, (priority[consumer], consumer))
    if len(order) != len(graph.node):
        raise CanonicalFormError("the graph has a cycle")
    return order


def _canonical_names(graph: onnx.GraphProto, keys: dict[str, str], nodes: list[onnx.NodeProto]) -> dict[str, str]:
    """Old tensor name => new one: graph inputs and outputs keep theirs."""
    kept = {value.name for value in [*graph.input, *graph.output]}
    names = {name: name for name in kept}
    names[""] = ""
    # Equal constants (same type, shape and bytes) become one: which copy a node named is not
    # part of what it computes.
    constant_keys = sorted({keys[tensor.name] for tensor in graph.initializer})
    constant_names = {key: f"const_{index}" for index, key in enumerate(constant_keys)}
    for tensor in graph.initializer:
        names.setdefault(tensor.name, constant_names[keys[tensor.name]])
    for position, node in enumerate(nodes):
        for index, output in enumerate(node.output):
            names.setdefault(output, f"{node.op_type.lower()}_{position}_{index}")
    return names


def _unique_initializers(graph: onnx.GraphProto, keys: dict[str, str], names: dict[str, str]) -> list[onnx.TensorProto]:
    """One renamed copy of each distinct initializer, in name order."""
    unique: dict[str, onnx.TensorProto] = {}
    for tensor in graph.initializer:
        if names[tensor.name] not in unique:
            copy = onnx.TensorProto.FromString(tensor.SerializeToString())
            copy.name = names[tensor.name]
            copy.ClearField("doc_string")
            unique[copy.name] = copy
    return [unique[name] for name in sorted(unique, key=lambda name: (len(name), name))]


def _renamed(node: onnx.NodeProto, names: dict[str, str], position: int) -> onnx.NodeProto:
    renamed = onnx.NodeProto.FromString(node.SerializeToString())
    renamed.name = f"{node.op_type}_{position}"
    renamed.ClearField("doc_string")
    del renamed.input[:]
    renamed.input.extend(names[name] for name in node.input)
    del renamed.output[:]
    renamed.output.extend(names[name] for name in node.output)
    return renamed
