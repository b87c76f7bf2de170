"""Pattern lifting: before conversion, known ONNX subgraphs are replaced by one node of
the private domain 'cnnnative' (x * Sigmoid(x) -> cnnnative:SiLU, ...), which converts
to the library's fast layer, so imported models hit the engine's kernels and fusions.

A pattern is ``fn(node, index) -> Match | None``, registered with `@pattern`, tried on
every node (the node that would be the subgraph's *last* one). A match names the nodes
it consumes and the node that replaces them; it is applied only when every intermediate
output of the consumed nodes is read by consumed nodes alone (nothing else, not a graph
output), so lifting never changes what the model computes.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["pattern", "Match", "NodeIndex", "lift_patterns", "FUSED_DOMAIN", "PATTERNS"]

FUSED_DOMAIN = "cnnnative"
PATTERNS: list = []


def pattern(fn):
    """Register a pattern function (tried in registration order)."""
    PATTERNS.append(fn)
    return fn


@dataclass
class Match:
    consumed: list      # the NodeProtos the fused node replaces (its last one included)
    replacement: object  # a NodeProto, usually helper.make_node(..., domain=FUSED_DOMAIN)


class NodeIndex:
    """Who produces and who reads each value of a node list."""

    def __init__(self, nodes, graph_outputs, constants):
        self.producer = {}
        self.readers: dict = {}
        for n in nodes:
            for o in n.output:
                if o:
                    self.producer[o] = n
            for i in n.input:
                if i:
                    self.readers.setdefault(i, []).append(n)
        self.graph_outputs = set(graph_outputs)
        self.constants = constants  # name -> numpy array (initializers, Constant nodes)

    def producer_of(self, name, op_type=None):
        n = self.producer.get(name)
        if n is None or (op_type is not None and n.op_type != op_type):
            return None
        return n

    def constant(self, name):
        return self.constants.get(name)


def _applicable(match, index) -> bool:
    consumed = {id(n) for n in match.consumed}
    last = match.consumed[-1]
    for n in match.consumed:
        if n is last:
            continue
        for o in n.output:
            if not o:
                continue
            if o in index.graph_outputs:
                return False
            if any(id(r) not in consumed for r in index.readers.get(o, ())):
                return False
    return True


def lift_patterns(nodes, graph_outputs, constants):
    """The node list with every applicable pattern replaced by its fused node (the fused
    node takes the place of the subgraph's last node, keeping topological order)."""
    nodes = list(nodes)
    changed = True
    while changed:
        changed = False
        index = NodeIndex(nodes, graph_outputs, constants)
        for pos, node in enumerate(nodes):
            for fn in PATTERNS:
                m = fn(node, index)
                if m is None or m.consumed[-1] is not node or not _applicable(m, index):
                    continue
                drop = {id(n) for n in m.consumed}
                nodes = [m.replacement if n is node else n for n in nodes if id(n) not in drop or n is node]
                changed = True
                break
            if changed:
                break
    return nodes
