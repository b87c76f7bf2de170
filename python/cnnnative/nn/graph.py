"""Graph: a model as a directed acyclic graph, built functionally.

    g = Graph()
    x = g.input((3, 32, 32))
    a = g.add_node(Conv2d(3, 16, 3, padding=1), x, name="conv1")
    b = g.add_node(ReLU(), a)
    c = g.add(b, g.add_node(Conv2d(16, 16, 1), b))     # residual add (fan-out of b)
    d = g.concat([c, b])                               # channel concat
    g.output(d)
    y = g(batch)                                       # (N, 32, 32, 32)

Every node's per-sample shape is inferred when it is added, so a mismatch is reported at
build time naming the node and the sizes. Nodes are kept in the order they were added,
which is a topological order (a node can only use nodes that already exist). Forward runs
that order and drops each intermediate as soon as its last consumer has run; on Tensors
that require grad autograd records it (there is no graph-level backward).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from ._util import index
from .module import Module

__all__ = ["Graph", "Node"]



# GPU tensors (cnnnative.cuda.Tensor, see Module.to) take the same paths through the graph;
# only the channel concatenation and its split need device-side copies.
def _on_device(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"


def _concat_channels(args):
    if any(isinstance(a, Tensor) for a in args):
        return ops.cat(list(args), 1)  # records on Tensors that require grad
    if _on_device(args[0]):
        from ..cuda import ops as cuda_ops
        return cuda_ops.concat(args, axis=1)
    return np.concatenate(args, axis=1)


class Node:
    """A symbolic tensor in a Graph: its name and per-sample shape (no batch dim)."""

    __slots__ = ("graph", "index", "name", "shape")

    def __init__(self, graph, index, name, shape):
        self.graph, self.index, self.name, self.shape = graph, index, name, tuple(shape)

    def __repr__(self):
        return f"Node({self.name!r}, shape={self.shape})"


class _Spec:
    __slots__ = ("kind", "inputs", "module", "name", "shape")

    def __init__(self, kind, inputs, module, name, shape):
        self.kind, self.inputs, self.module, self.name, self.shape = kind, inputs, module, name, shape


class Graph(Module):
    """A DAG of modules plus add / add-relu / channel-concat joins. Is itself a Module."""

    def __init__(self):
        super().__init__()
        self._specs: list[_Spec] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []
        self._names: set[str] = set()
        self._counts: dict[str, int] = {}
        self.peak_live = 0

    # -- building -------------------------------------------------------------------------
    def _new_name(self, name, stem):
        if name is None:
            self._counts[stem] = self._counts.get(stem, 0) + 1
            name = f"{stem}{self._counts[stem]}"
            while name in self._names:
                self._counts[stem] += 1
                name = f"{stem}{self._counts[stem]}"
        name = str(name)
        # Dotted names ("layer1.0.conv1") are allowed: they become state_dict prefixes, so
        # a graph can reproduce another framework's nested parameter names exactly.
        if not name or any(not part for part in name.split(".")):
            raise ValueError(f"node name must be non-empty without empty '.'-parts, got {name!r}")
        if name in self._names:
            raise ValueError(f"a node named {name!r} already exists in this graph")
        self._names.add(name)
        return name

    def _check_node(self, node, what):
        if not isinstance(node, Node) or node.graph is not self:
            raise TypeError(f"{what}: expected a Node of this graph, got {node!r}")
        return node.index

    def _append(self, kind, inputs, module, name, shape):
        self._specs.append(_Spec(kind, tuple(inputs), module, name, tuple(shape)))
        return Node(self, len(self._specs) - 1, name, shape)

    def input(self, shape, name=None) -> Node:
        """Declare an input with per-sample shape, e.g. (C, H, W)."""
        shape = tuple(index(d, "shape") for d in shape)
        if any(d <= 0 for d in shape):
            raise ValueError(f"input shape must be positive sizes, got {shape}")
        name = self._new_name(name, "input")
        node = self._append("input", (), None, name, shape)
        self._inputs.append(node.index)
        return node

    def add_node(self, module: Module, input: Node, name=None) -> Node:
        """Apply a module to a node. Its name becomes the state_dict prefix."""
        i = self._check_node(input, "add_node")
        if not isinstance(module, Module):
            raise TypeError(f"add_node: expected a Module, got {type(module).__name__}")
        if any(s.module is module for s in self._specs):
            raise ValueError(f"add_node: {module!r} is already in this graph; a layer instance can "
                             "be used once (it keeps its own cache for backward)")
        name = self._new_name(name, type(module).__name__.lower())
        try:
            shape = module.output_shape(input.shape)
        except (ValueError, NotImplementedError) as e:
            self._names.discard(name)
            raise ValueError(f"graph node {name!r} ({type(module).__name__}) fed by {input.name!r} "
                             f"of shape {input.shape}: {e}") from None
        self._modules[name] = module
        return self._append("module", (i,), module, name, shape)

    layer = add_node

    def add(self, a: Node, b: Node, *, relu: bool = False, name=None) -> Node:
        """Element-wise sum of two nodes of equal shape (a residual join); relu=True
        applies ReLU to the sum in the same kernel."""
        ia, ib = self._check_node(a, "add"), self._check_node(b, "add")
        if a.shape != b.shape:
            raise ValueError(f"graph add {name or ''!s}: shapes differ: {a.name!r} is {a.shape}, "
                             f"{b.name!r} is {b.shape}")
        name = self._new_name(name, "add")
        return self._append("add_relu" if relu else "add", (ia, ib), None, name, a.shape)

    def concat(self, nodes, name=None) -> Node:
        """Concatenate nodes along the channel axis (dim 1 of NCHW); other dims must match."""
        nodes = list(nodes)
        if not nodes:
            raise ValueError("concat needs at least one node")
        idx = [self._check_node(n, "concat") for n in nodes]
        first = nodes[0]
        for n in nodes[1:]:
            if len(n.shape) != len(first.shape) or n.shape[1:] != first.shape[1:]:
                raise ValueError(f"graph concat {name or ''!s}: all inputs must match except in channels: "
                                 + ", ".join(f"{m.name!r} is {m.shape}" for m in nodes))
        name = self._new_name(name, "concat")
        shape = (sum(n.shape[0] for n in nodes),) + first.shape[1:]
        return self._append("concat", idx, None, name, shape)

    def output(self, *nodes) -> "Graph":
        """Mark the output node(s); forward returns one array, or a tuple for several."""
        if not nodes:
            raise ValueError("output needs at least one node")
        self._outputs = [self._check_node(n, "output") for n in nodes]
        return self

    @property
    def nodes(self):
        return [Node(self, i, s.name, s.shape) for i, s in enumerate(self._specs)]

    def _ready(self):
        if not self._inputs:
            raise RuntimeError("graph has no input; call g.input(shape) first")
        if not self._outputs:
            raise RuntimeError("graph has no output; call g.output(node)")

    def output_shape(self, input_shape):
        self._ready()
        if len(self._inputs) != 1 or len(self._outputs) != 1:
            raise ValueError("output_shape needs a graph with one input and one output")
        declared = self._specs[self._inputs[0]].shape
        if tuple(input_shape) != declared:
            raise self._shape_error(input_shape, f"the graph input is declared as {declared}")
        return self._specs[self._outputs[0]].shape

    # -- running --------------------------------------------------------------------------
    def _consumers(self):
        count = [0] * len(self._specs)
        for s in self._specs:
            for i in s.inputs:
                count[i] += 1
        return count

    def forward(self, *inputs):
        self._ready()
        if len(inputs) != len(self._inputs):
            raise ValueError(f"graph takes {len(self._inputs)} input(s), got {len(inputs)}")
        values = [None] * len(self._specs)
        for i, x in zip(self._inputs, inputs):
            spec = self._specs[i]
            x = x if _on_device(x) or isinstance(x, Tensor) else np.ascontiguousarray(x, dtype=np.float32)
            if tuple(x.shape[1:]) != tuple(spec.shape):
                raise ValueError(f"graph input {spec.name!r}: expected (N,) + {spec.shape}, got {x.shape}")
            values[i] = x
        remaining = self._consumers()
        keep = set(self._outputs)
        live = len(inputs)
        self.peak_live = live  # most node values held at once (a memory diagnostic)
        for i, s in enumerate(self._specs):
            if s.kind == "input":
                continue
            args = [values[j] for j in s.inputs]
            if s.kind == "module":
                out = s.module(args[0])
            elif s.kind == "add":
                out = ops.add(args[0], args[1])
            elif s.kind == "add_relu":
                out = ops.add_relu(args[0], args[1])
            else:  # concat
                out = _concat_channels(args) if len(args) > 1 else args[0]
            values[i] = out
            live += 1
            self.peak_live = max(self.peak_live, live)
            for j in s.inputs:  # free what no later node needs
                remaining[j] -= 1
                if remaining[j] == 0 and j not in keep:
                    values[j] = None
                    live -= 1
        outs = tuple(values[i] for i in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = ["Graph("]
        for s in self._specs:
            ins = ", ".join(self._specs[j].name for j in s.inputs)
            what = repr(s.module).replace("\n", "\n    ") if s.module is not None else s.kind
            lines.append(f"  {s.name}: {what}({ins}) -> {s.shape}" if s.kind != "input"
                         else f"  {s.name}: input {s.shape}")
        lines.append(f"  outputs: {[self._specs[i].name for i in self._outputs]}")
        lines.append(")")
        return "\n".join(lines)
