"""Graph: a model as a directed acyclic graph of layers and ops, built functionally.

    g = Graph()
    x = g.input((3, 32, 32))
    a = g.add_node(Conv2d(3, 16, 3, padding=1), x, name="conv1")
    b = g.add_node(ReLU(), a)
    c = g.add(b, g.add_node(Conv2d(16, 16, 1), b))     # residual add (fan-out of b)
    d = g.concat([c, b])                               # channel concat
    g.output(d)
    y = g(batch)                                       # (N, 32, 32, 32)

A Graph is a builder of the one op graph, `cnnnative.ir.OpGraph`: a layer is a node that
calls the module; joins are nodes that call `cnnnative.ops` functions -- `add`, `mul`,
`sub`, `div` (NumPy broadcasting), `concat` / `split` on any axis, `reshape`,
`transpose`, `slice`, or any op by name with `call_op`. Any number of inputs and outputs.
Every node's per-sample shape is inferred when it is added, so a mismatch is reported at
build time naming the node and the sizes. Nodes are kept in the order they were added,
which is a topological order.

Forward runs that order, calling each node's module or op, and drops each intermediate as
soon as its last reader has run (so in eval mode memory stays at the live frontier). Run
on recording tensors (`cnnnative.Tensor`), the calls are recorded by autograd like any
other code: the Graph has no hand-written backward. `cnnnative.compile` traces a Graph's
forward into a flat OpGraph of ops like any other module.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..ir import OpGraph, ShapeError, run
from ..ir.execute import op_function
from ..ir.graph import _values_in
from ._util import index
from .module import Module

__all__ = ["Graph", "Node"]


def _on_device(a) -> bool:
    return type(a).__module__ == "cnnnative._cuda"


class Node:
    """A symbolic tensor in a Graph: its name and per-sample shape (no batch dim)."""

    __slots__ = ("graph", "value")

    def __init__(self, graph, value) -> None:
        self.graph, self.value = graph, value

    @property
    def name(self) -> str:
        return self.value.name

    @property
    def shape(self) -> tuple:
        return self.value.sample_shape

    def __repr__(self):
        return f"Node({self.name!r}, shape={self.shape})"


class Graph(Module):
    """A DAG of modules and ops with any number of inputs and outputs. Is itself a Module;
    its layers' parameters are named by their node names (the state_dict prefixes)."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "ir", OpGraph())
        self.peak_live = 0

    # -- building -------------------------------------------------------------------------
    def _value(self, node, what):
        if not isinstance(node, Node) or node.graph is not self:
            raise TypeError(f"{what}: expected a Node of this graph, got {node!r}")
        return node.value

    def _node_name(self, name, stem):
        return self.ir.unique_name(stem) if name is None else name

    def _append(self, op, args, name, stem, module=None):
        """Add one IR node; shape errors are reported per sample, naming the inputs."""
        name = self._node_name(name, stem)
        try:
            out = self.ir.add_node(op, args, name=name, module=module)
        except ShapeError as e:
            node = getattr(e, "node", None)
            if node is None:
                raise
            label = type(module).__name__ if module is not None else op
            fed = ", ".join(f"{v.name!r} is {v.sample_shape}" for v in node.inputs)
            raise ValueError(f"graph node {name!r} ({label}) fed by {fed}: {e.reason}") from None
        if isinstance(out, tuple):
            return tuple(Node(self, v) for v in out)
        return Node(self, out)

    def input(self, shape, name=None) -> Node:
        """Declare an input with per-sample shape, e.g. (C, H, W)."""
        shape = tuple(index(d, "shape") for d in shape)
        if any(d <= 0 for d in shape):
            raise ValueError(f"input shape must be positive sizes, got {shape}")
        return Node(self, self.ir.input((None,) + shape, name=name))

    def add_node(self, module: Module, input: Node, name=None) -> Node:
        """Apply a module to a node. Its name becomes the state_dict prefix."""
        x = self._value(input, "add_node")
        if not isinstance(module, Module):
            raise TypeError(f"add_node: expected a Module, got {type(module).__name__}")
        if any(n.module is module for n in self.ir.nodes):
            raise ValueError(f"add_node: {module!r} is already in this graph; a layer instance is added "
                             "once (its node name is its parameters' name)")
        node = self._append("module", {"input": x}, name, type(module).__name__.lower(), module)
        self._modules[node.name] = module
        return node

    layer = add_node

    def call_op(self, op: str, *args, name=None, **kwargs):
        """A node calling `cnnnative.ops.<op>` with these arguments, where Nodes stand for
        their values (e.g. ``g.call_op("leaky_relu", x, 0.2)``). Returns a Node, or a tuple
        of Nodes for an op with several outputs."""
        try:
            bound = inspect.signature(op_function(op)).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"graph node {name or op!r}: {op}(): {e}") from None

        def convert(a):
            if isinstance(a, Node):
                return self._value(a, op)
            if isinstance(a, (list, tuple)) and any(isinstance(v, Node) for v in a):
                return [convert(v) for v in a]
            return a
        return self._append(op, {k: convert(a) for k, a in bound.arguments.items()}, name, op)

    def add(self, a: Node, b: Node, *, relu: bool = False, name=None) -> Node:
        """Element-wise sum with NumPy broadcasting (a residual join); relu=True applies
        ReLU to the sum in the same kernel."""
        va, vb = self._value(a, "add"), self._value(b, "add")
        return self._append("add_relu" if relu else "add", {"a": va, "b": vb}, name, "add")

    def mul(self, a: Node, b, *, name=None) -> Node:
        """Element-wise product with broadcasting (b: a Node or an array)."""
        return self.call_op("mul", a, b, name=name)

    def sub(self, a: Node, b, *, name=None) -> Node:
        return self.call_op("sub", a, b, name=name)

    def div(self, a: Node, b, *, name=None) -> Node:
        return self.call_op("div", a, b, name=name)

    def concat(self, nodes, name=None, dim: int = 1) -> Node:
        """Concatenate nodes along `dim` of the batched tensor (default 1, the channels of
        NCHW); the other dims must match."""
        nodes = list(nodes)
        if not nodes:
            raise ValueError("concat needs at least one node")
        values = [self._value(n, "concat") for n in nodes]
        return self._append("cat", {"tensors": values, "dim": int(dim)}, name, "concat")

    def split(self, node: Node, split_size_or_sections, dim: int = 1, name=None):
        """Split along `dim` into pieces of one size (int) or of the given sizes (list);
        returns a tuple of Nodes."""
        out = self._append("split", {"input": self._value(node, "split"),
                                     "split_size_or_sections": split_size_or_sections, "dim": int(dim)},
                           name, "split")
        return out if isinstance(out, tuple) else (out,)

    def reshape(self, node: Node, shape, name=None) -> Node:
        """Reshape each sample to `shape` (per-sample, no batch dim)."""
        shape = tuple(int(d) for d in shape)
        return self._append("reshape", {"input": self._value(node, "reshape"), "shape": (-1,) + shape},
                            name, "reshape")

    def transpose(self, node: Node, dim0: int, dim1: int, name=None) -> Node:
        """Swap two dims of the batched tensor (dim 0, the batch, stays)."""
        x = self._value(node, "transpose")
        for d in (dim0, dim1):
            if int(d) % max(len(x.shape), 1) == 0:
                raise ValueError(f"graph transpose {name or ''!s}: dim {d} is the batch dim of {x.shape}")
        return self._append("transpose", {"input": x, "dim0": int(dim0), "dim1": int(dim1)}, name, "transpose")

    def slice(self, node: Node, dim: int, start=None, stop=None, step=None, name=None) -> Node:
        """x[:, ..., start:stop:step] along `dim` of the batched tensor (not the batch)."""
        x = self._value(node, "slice")
        d = int(dim) % max(len(x.shape), 1)
        if d == 0:
            raise ValueError(f"graph slice {name or ''!s}: dim {dim} is the batch dim")
        key = (slice(None),) * d + (slice(start, stop, step),)
        return self._append("getitem", {"input": x, "index": key}, name, "slice")

    def replace_layer(self, name: str, module: Module) -> Node:
        """Put `module` in place of the layer node `name` (a new head for transfer learning:
        ``g.replace_layer("fc", Linear(2048, 10))`` on an imported ResNet-50). Its output
        shape may change only where nothing but the graph's outputs reads it; the new
        layer's parameters take the node's name in state_dict. Returns its Node."""
        from ..ir.shapes import infer
        node = next((n for n in self.ir.nodes if n.name == name and n.op == "module"), None)
        if node is None:
            layers = [n.name for n in self.ir.nodes if n.op == "module"]
            raise KeyError(f"replace_layer: no layer node {name!r}; the layers are {layers}")
        if not isinstance(module, Module):
            raise TypeError(f"replace_layer: expected a Module, got {type(module).__name__}")
        if any(n.module is module for n in self.ir.nodes):
            raise ValueError(f"replace_layer: {module!r} is already in this graph")
        old = node.module
        node.module = module
        try:
            (shape,) = infer(node)
        except Exception as e:
            node.module = old
            x = node.inputs[0]
            raise ValueError(f"replace_layer {name!r}: the new layer does not take the node's input "
                             f"{x.sample_shape}: {e}") from None
        out = node.outputs[0]
        if tuple(shape) != out.shape:
            readers = [n.name for n in self.ir.nodes if out in n.inputs]
            if readers:
                node.module = old
                raise ValueError(f"replace_layer {name!r}: the new layer gives {shape[1:]} per sample, not "
                                 f"{out.sample_shape}, and nodes {readers} read it")
            out.shape = tuple(shape)
        self._modules[name] = module
        return Node(self, out)

    def output(self, *nodes) -> "Graph":
        """Mark the output node(s); forward returns one array, or a tuple for several."""
        if not nodes:
            raise ValueError("output needs at least one node")
        self.ir.set_outputs(*[self._value(n, "output") for n in nodes])
        return self

    @property
    def nodes(self):
        """Every value of the graph (inputs and node outputs) as a Node, in order."""
        values = list(self.ir.inputs) + [v for n in self.ir.nodes for v in n.outputs]
        return [Node(self, v) for v in values]

    def _ready(self):
        if not self.ir.inputs:
            raise RuntimeError("graph has no input; call g.input(shape) first")
        if not self.ir.outputs:
            raise RuntimeError("graph has no output; call g.output(node)")

    def output_shape(self, input_shape):
        self._ready()
        if len(self.ir.inputs) != 1 or len(self.ir.outputs) != 1:
            raise ValueError("output_shape needs a graph with one input and one output")
        declared = self.ir.inputs[0].sample_shape
        if tuple(input_shape) != declared:
            raise self._shape_error(input_shape, f"the graph input is declared as {declared}")
        return self.ir.outputs[0].sample_shape

    # -- running --------------------------------------------------------------------------
    def forward(self, *inputs):
        self._ready()
        if len(inputs) != len(self.ir.inputs):
            raise ValueError(f"graph takes {len(self.ir.inputs)} input(s), got {len(inputs)}")
        checked = []
        for v, x in zip(self.ir.inputs, inputs):
            if isinstance(x, np.ndarray) or not hasattr(x, "shape"):
                x = np.ascontiguousarray(x, dtype=np.float32)
            if len(x.shape) != len(v.shape) or tuple(x.shape[1:]) != v.sample_shape:
                raise ValueError(f"graph input {v.name!r}: expected (N,) + {v.sample_shape}, got {tuple(x.shape)}")
            checked.append(x)
        stats = {}
        outs = run(self.ir, checked, stats)
        self.peak_live = stats["peak_live"]  # most node values held at once (a memory diagnostic)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = ["Graph("]
        for v in self.ir.inputs:
            lines.append(f"  {v.name}: input {v.sample_shape}")
        for n in self.ir.nodes:
            ins = ", ".join(v.name for a in n.args.values() for v in _values_in(a))
            what = repr(n.module).replace("\n", "\n    ") if n.module is not None else n.op
            for v in n.outputs:
                lines.append(f"  {v.name}: {what}({ins}) -> {v.sample_shape}")
        lines.append(f"  outputs: {[v.name for v in self.ir.outputs]}")
        lines.append(")")
        return "\n".join(lines)
