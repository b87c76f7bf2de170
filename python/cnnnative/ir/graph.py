"""OpGraph: the one op graph of cnnnative (nodes = op calls, edges = values).

A node is one call of a `cnnnative.ops` function: its `op` is the function's name and its
`args` are the function's arguments by parameter name, exactly as they would be passed.
An argument is a graph `Value` (or a list of them, for `cat`), a parameter array
(`params`: weights, running statistics; held by reference, never copied) or a plain
constant (`attrs`: stride, dim, ...). So executing a node is calling the op
(`cnnnative.ir.execute`). Two extensions keep one representation for every user:

- ``op == "module"``: a call of a `cnnnative.nn.Module` (a layer node of `nn.Graph`).
  Tracing such a graph (`cnnnative.ir.trace`) flattens it into op nodes.
- ``epilogue``: what the compiler fused onto a node's output, as data, applied in order
  after the op: ``("scale_shift", scale, shift)`` (a folded BatchNorm: y * scale + shift
  per channel), ``("add", value)`` (a residual) and ``("relu",)`` / ``("relu6",)``.

Values have shapes; ``None`` in the first position marks the batch dimension, which is
dynamic (any batch runs the same graph). Every node's output shapes are inferred when it
is added (`cnnnative.ir.shapes`), so a mismatch is reported there, naming the node, its
inputs and their sizes. Nodes are kept in the order they were added, which is a
topological order (a node can only read values that already exist).
"""
from __future__ import annotations

import numpy as np

from . import shapes as _shapes

__all__ = ["OpGraph", "Value", "Node", "ShapeError"]


class ShapeError(ValueError):
    """A node's inputs do not fit its op; the message names the node and the sizes."""


def format_shape(shape) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Value:
    """An edge of the graph: a tensor with a name and a shape (None = the batch dim)."""

    __slots__ = ("graph", "name", "shape", "node", "index")

    def __init__(self, graph, name, shape, node=None, index=0):
        self.graph, self.name, self.shape = graph, name, tuple(shape)
        self.node, self.index = node, index  # producer (None for a graph input), output number

    @property
    def batched(self) -> bool:
        return bool(self.shape) and self.shape[0] is None

    @property
    def sample_shape(self) -> tuple:
        """The shape of one sample (the batch dim dropped)."""
        return self.shape[1:] if self.batched else self.shape

    def __repr__(self):
        return f"Value({self.name!r}, {format_shape(self.shape)})"


def _values_in(a):
    if isinstance(a, Value):
        yield a
    elif isinstance(a, (list, tuple)):
        for v in a:
            yield from _values_in(v)


def _replace_in(a, old, new):
    if a is old:
        return new
    if isinstance(a, list):
        return [_replace_in(v, old, new) for v in a]
    if isinstance(a, tuple):
        return tuple(_replace_in(v, old, new) for v in a)
    return a


def _is_param(a) -> bool:
    return isinstance(a, np.ndarray) or hasattr(a, "__cuda_array_interface__")


class Node:
    """One op call: op name, arguments by parameter name, output values, epilogue, and
    `scope`, the dotted path of the module that made the call (for error messages)."""

    __slots__ = ("graph", "op", "args", "outputs", "name", "scope", "module", "epilogue")

    def __init__(self, graph, op, args, name, scope="", module=None):
        self.graph, self.op, self.args, self.name = graph, op, dict(args), name
        self.scope, self.module = scope, module
        self.outputs: list[Value] = []
        self.epilogue: list[tuple] = []

    @property
    def inputs(self) -> list:
        """The values this node reads (arguments first, then epilogue residuals), each once."""
        seen = {}
        for a in self.args.values():
            for v in _values_in(a):
                seen[id(v)] = v
        for step in self.epilogue:
            for v in _values_in(step[1:]):
                seen[id(v)] = v
        return list(seen.values())

    @property
    def params(self) -> dict:
        """Array arguments (weights, biases, running statistics), by parameter name."""
        return {k: a for k, a in self.args.items() if _is_param(a)}

    @property
    def attrs(self) -> dict:
        """Constant arguments that are neither values nor arrays (stride, dim, ...)."""
        return {k: a for k, a in self.args.items()
                if not _is_param(a) and not any(True for _ in _values_in(a))}

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.name!r} ({self.op}) has {len(self.outputs)} outputs")
        return self.outputs[0]

    def replace_input(self, old: Value, new: Value) -> None:
        self.args = {k: _replace_in(a, old, new) for k, a in self.args.items()}
        self.epilogue = [tuple(_replace_in(p, old, new) for p in step) for step in self.epilogue]

    @property
    def where(self) -> str:
        """How errors name this node: its name and, when traced, the layer that emitted it."""
        return f"node {self.name!r} ({self.op}" + (f", layer {self.scope!r})" if self.scope else ")")

    def describe(self) -> str:
        """One line: outputs with shapes = op(arguments) +epilogue steps  # layer path.
        Values show by name, arrays by shape (<64x3x7x7>), the main input without its name."""
        def arg(a):
            if isinstance(a, Value):
                return a.name
            if isinstance(a, list):
                return "[" + ", ".join(arg(v) for v in a) + "]"
            if _is_param(a):
                return f"<{'x'.join(map(str, a.shape)) or 'scalar'}>"
            return repr(a)

        def named(k, a):
            unnamed = self.module is not None or k in ("input", "x", "tensors")
            return arg(a) if unnamed else f"{k}={arg(a)}"
        what = self.op if self.module is None else type(self.module).__name__
        args = ", ".join(named(k, a) for k, a in self.args.items())
        post = "".join(f" +{s[0]}" + (f"({arg(s[1])})" if s[0] == "add" else "") for s in self.epilogue)
        outs = ", ".join(f"{v.name}: {format_shape(v.shape)}" for v in self.outputs)
        scope = f"  # {self.scope}" if self.scope else ""
        return f"{outs} = {what}({args}){post}{scope}"

    def __repr__(self):
        return f"Node({self.describe()})"


class OpGraph:
    """Values and op nodes; any number of inputs and outputs. See the module docstring."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self._names: dict[str, object] = {}
        self._counts: dict[str, int] = {}

    # -- names ----------------------------------------------------------------------------
    def unique_name(self, stem: str) -> str:
        """A fresh name `stem<k>` (never one already used)."""
        while True:
            self._counts[stem] = self._counts.get(stem, 0) + 1
            name = f"{stem}{self._counts[stem]}"
            if name not in self._names:
                return name

    def claim_name(self, name: str, owner) -> str:
        name = str(name)
        if not name or any(not part for part in name.split(".")):
            raise ValueError(f"node name must be non-empty without empty '.'-parts, got {name!r}")
        if name in self._names:
            raise ValueError(f"a node named {name!r} already exists in this graph")
        self._names[name] = owner
        return name

    def release_name(self, name: str) -> None:
        self._names.pop(name, None)

    # -- building -------------------------------------------------------------------------
    def input(self, shape, name=None) -> Value:
        """A graph input; shape with None as the (dynamic) batch dim, e.g. (None, 3, 32, 32)."""
        shape = tuple(None if d is None else int(d) for d in shape)
        name = self.claim_name(name if name is not None else self.unique_name("input"), None)
        v = Value(self, name, shape)
        self._names[name] = v
        self.inputs.append(v)
        return v

    def add_node(self, op: str, args: dict, *, name=None, scope="", module=None, shapes=None):
        """Append the call `op(**args)`; returns its output Value (a tuple of Values for an op
        with several outputs). Output shapes are inferred (or taken from `shapes`, a list,
        when the caller already knows them); a mismatch is a ShapeError naming the node."""
        for a in args.values():
            for v in _values_in(a):
                if v.graph is not self:
                    raise TypeError(f"{op}: {v!r} belongs to another graph")
        stem = op if module is None else type(module).__name__.lower()
        name = self.claim_name(name if name is not None else self.unique_name(stem), None)
        node = Node(self, op, args, name, scope, module)
        if shapes is None:
            try:
                shapes = _shapes.infer(node)
            except ShapeError:
                self.release_name(name)
                raise
            except (ValueError, NotImplementedError, TypeError) as e:
                self.release_name(name)
                fed = ", ".join(f"{v.name!r} is {format_shape(v.shape)}" for v in node.inputs)
                error = ShapeError(f"graph {node.where} fed by {fed}: {e}")
                error.node, error.reason = node, str(e)
                raise error from None
        for k, s in enumerate(shapes):
            out_name = name if k == 0 else f"{name}:{k}"
            if k:
                self.claim_name(out_name, None)
            v = Value(self, out_name, s, node, k)
            self._names[out_name] = v
            node.outputs.append(v)
        self.nodes.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else tuple(node.outputs)

    def set_outputs(self, *values) -> None:
        for v in values:
            if not isinstance(v, Value) or v.graph is not self:
                raise TypeError(f"output: expected a Value of this graph, got {v!r}")
        self.outputs = list(values)

    def value(self, name: str) -> Value:
        v = self._names.get(name)
        if not isinstance(v, Value):
            raise KeyError(f"no value named {name!r}")
        return v

    # -- rewriting ------------------------------------------------------------------------
    def uses(self) -> dict:
        """id(value) -> how many times it is read (graph outputs count as readers)."""
        count: dict[int, int] = {}
        for node in self.nodes:
            for v in node.inputs:
                count[id(v)] = count.get(id(v), 0) + 1
        for v in self.outputs:
            count[id(v)] = count.get(id(v), 0) + 1
        return count

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every reader of `old` (nodes and graph outputs) reads `new` instead."""
        for node in self.nodes:
            node.replace_input(old, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def remove_dead_nodes(self) -> None:
        """Drop nodes none of whose outputs reaches a graph output."""
        live = {id(v) for v in self.outputs}
        kept = []
        for node in reversed(self.nodes):
            if any(id(v) in live for v in node.outputs):
                kept.append(node)
                live.update(id(v) for v in node.inputs)
        self.nodes = kept[::-1]

    def last_uses(self) -> dict:
        """id(value) -> index of the last node reading it (graph outputs: never freed)."""
        last = {}
        for i, node in enumerate(self.nodes):
            for v in node.inputs:
                last[id(v)] = i
        for v in self.outputs:
            last[id(v)] = len(self.nodes)
        return last

    def __repr__(self):
        lines = ["OpGraph("]
        lines += [f"  input {v.name}: {format_shape(v.shape)}" for v in self.inputs]
        lines += [f"  {n.describe()}" for n in self.nodes]
        lines.append(f"  outputs: {', '.join(v.name for v in self.outputs)}")
        lines.append(")")
        return "\n".join(lines)
