"""ConvertContext: what a converter sees of one ONNX node while the model is imported.

A converter is ``fn(ctx)`` returning the node's output value (or a tuple, one per output).
It reads attributes (`attr`) and inputs (`input`, `const`), and emits into the nn.Graph
being built: `layer(module, x)` for a layer with parameters (Conv2d, BatchNorm2d, Linear,
...: its state_dict prefix is the initializer's name, so torch names survive) and
`op(name, ...)` for a `cnnnative.ops` call. `op` on constants only is folded: it runs now
and gives a constant, so constant subgraphs cost nothing at run time.
"""
from __future__ import annotations

import numpy as np

from ._values import BATCH, ShapeTensor, is_constant, is_graph_value

__all__ = ["ConvertContext", "ConversionError"]


class ConversionError(ValueError):
    """An ONNX node cannot be imported; the message names the node and its op."""


def _attribute_value(a):
    from onnx import helper, numpy_helper
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode("utf-8", "replace") for s in v]
    if a.type == a.TENSOR:
        from ._validate import check_initializer
        check_initializer(v, f"tensor attribute {a.name!r}")  # its bytes agree with its dims
        return numpy_helper.to_array(v)
    return v


class ConvertContext:
    def __init__(self, importer, node):
        self.importer = importer
        self.node = node
        self.opset = importer.opset
        self.graph = importer.graph
        self.name = node.name or (node.output[0] if node.output else node.op_type)
        self._attrs = {a.name: a for a in node.attribute}

    # -- errors -----------------------------------------------------------------------------
    def fail(self, message: str):
        raise ConversionError(f"ONNX node {self.name!r} ({self.node.op_type}, opset {self.opset}): {message}")

    # -- attributes -------------------------------------------------------------------------
    def attr(self, name: str, default=None):
        a = self._attrs.get(name)
        return default if a is None else _attribute_value(a)

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def ints(self, name: str, default=None, length=None):
        """An ints attribute as a tuple (checked: `length` entries when given)."""
        v = self.attr(name, default)
        if v is None:
            return None
        v = tuple(int(x) for x in v)
        if length is not None and len(v) != length:
            self.fail(f"attribute {name} has {len(v)} entries, expected {length}: {v}")
        return v

    # -- inputs -----------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return len(self.node.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int, default=None):
        """Input i's value: a graph Node, a numpy array (constant) or a ShapeTensor;
        `default` when the input is absent (optional and not given)."""
        if not self.has_input(i):
            return default
        v = self.importer.value(self.node.input[i], self)
        if type(v).__name__ == "QuantizedValue" and self.node.op_type != "DequantizeLinear":
            self.fail(f"input {i} is the integer output of QuantizeLinear {v.node!r}; cnnnative imports "
                      "QuantizeLinear on run-time values only as a QuantizeLinear -> DequantizeLinear pair")
        return v

    def const(self, i: int, what: str, default=None):
        """Input i as a numpy array; it must be known at load (an initializer, a Constant or
        folded from them; a ShapeTensor with no batch entry counts)."""
        if not self.has_input(i):
            return default  # an optional input left out: its default, whatever its type
        v = self.input(i)
        if is_constant(v):
            return v
        if isinstance(v, ShapeTensor) and v.known:
            return v.array()
        self.fail(f"input {i} ({what}) must be a constant known at load, but it is computed at run time")

    def output_read(self, i: int) -> bool:
        """Whether the model reads output i (a later node or a graph output takes it)."""
        return i < len(self.node.output) and self.importer.is_read(self.node.output[i])

    def input_name(self, i: int) -> str:
        return self.node.input[i] if self.has_input(i) else ""

    def shape(self, v):
        """The full shape of a value (None for the batch dim of a graph value)."""
        if is_graph_value(v):
            return (None,) + tuple(v.shape)
        if isinstance(v, ShapeTensor):
            return v.shape
        return tuple(np.shape(v))

    def graph_input(self, i: int, what: str = "input"):
        """Input i, which must be a graph value (the batched data flowing through)."""
        v = self.input(i)
        if not is_graph_value(v):
            self.fail(f"input {i} ({what}) is a constant; only run-time values are supported here")
        return v

    # -- emitting ---------------------------------------------------------------------------
    def layer(self, module, x, param_input: int | None = None):
        """Add `module` applied to graph value `x`. Its name (the state_dict prefix) comes
        from the initializer feeding input `param_input` ('features.0.weight' ->
        'features.0'), or from the node's name."""
        stem = None
        if param_input is not None and self.has_input(param_input):
            stem = self.importer.param_prefix(self.input_name(param_input))
        return self.graph.add_node(module, x, name=self.importer.layer_name(stem or self.name))

    def op(self, opname: str, *args, **kwargs):
        """`cnnnative.ops.<opname>(*args, **kwargs)`: folded now when no argument is a graph
        value, else a graph node."""
        def dynamic(a):
            if is_graph_value(a):
                return True
            return isinstance(a, (list, tuple)) and any(is_graph_value(e) for e in a)
        if not any(dynamic(a) for a in list(args) + list(kwargs.values())):
            from .. import ops
            return getattr(ops, opname)(*args, **kwargs)
        return self.graph.call_op(opname, *args, name=self.importer.node_name(self.name), **kwargs)

    def batch_entry(self):
        return BATCH
