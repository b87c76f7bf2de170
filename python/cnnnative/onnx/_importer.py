"""Importing an ONNX graph into a `cnnnative.nn.Graph`: the op graph the rest of the
library trains, compiles and exports.

Every node is first checked against the converter registry, so a model with unsupported
operators fails once, listing every one of them. Then the nodes are converted in order:
each converter reads its inputs from the environment (graph values, constants, symbolic
shapes) and emits layers and ops. Initializers that a converter takes as a layer's weights
become that layer's Parameters (trainable, named as in the file); the others are
constants of the graph.
"""
from __future__ import annotations

import re

import numpy as np

from ..nn.graph import Graph
from ._context import ConversionError, ConvertContext
from ._patterns import FUSED_DOMAIN, lift_patterns
from ._registry import find_converter
# MAX_TENSOR_ELEMENTS: converters import the bound from here
from ._validate import MAX_TENSOR_ELEMENTS, check_initializer, check_sample_size  # noqa: F401
from ._values import ShapeTensor, is_graph_value

__all__ = ["Importer", "UnsupportedOperatorError"]


def op_key(node) -> str | None:
    """The registry key of a node: its op type in the default domain, 'cnnnative:<op>'
    for the fused ops of pattern lifting, None for any other domain."""
    if node.domain in ("", "ai.onnx"):
        return node.op_type
    if node.domain == FUSED_DOMAIN:
        return f"{FUSED_DOMAIN}:{node.op_type}"
    return None


def _constant_node_values(nodes):
    from onnx import numpy_helper
    out = {}
    for n in nodes:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and len(n.output) == 1:
            for a in n.attribute:
                if a.name == "value" and a.type == a.TENSOR:
                    try:
                        out[n.output[0]] = numpy_helper.to_array(a.t)
                    except Exception:
                        pass  # reported with the node's name when it is converted
    return out


class UnsupportedOperatorError(ValueError):
    """The model uses operators cnnnative cannot import; `.ops` lists them."""

    def __init__(self, ops):
        self.ops = ops  # [(op_type, domain, count, first node name, opset)]
        lines = [f"  {t}{' (domain ' + d + ')' if d else ''}: {n} node(s), first {first!r}, opset {v}"
                 for t, d, n, first, v in ops]
        super().__init__("the ONNX model uses operators cnnnative cannot import:\n" + "\n".join(lines))


def _tensor_array(t, what):
    """A TensorProto as a numpy array, its byte size checked against its shape first."""
    from onnx import numpy_helper
    n = check_initializer(t, what)
    dims = [int(d) for d in t.dims]
    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:
        raise ValueError(f"{what} {t.name!r} (dims {dims}) cannot be read: {e}") from None
    if arr.size != n:
        raise ValueError(f"{what} {t.name!r}: dims {dims} need {n} values but it holds {arr.size}")
    return arr


class Importer:
    def __init__(self, model, input_shape=None, constant_outputs=False):
        from ._read import model_opset
        self.model = model
        self.opset = model_opset(model)
        self.graph = Graph()
        self.env: dict = {}
        self.initializers: dict = {}
        self.static_batch = None  # the batch size a static-batch model was exported with
        self._layer_names: set = set()
        self._input_shape = input_shape
        # the conformance backend's mode: outputs that do not depend on the inputs (and graphs
        # with no run-time input at all) are kept as graph.onnx_constant_outputs instead of
        # being an error
        self.constant_outputs = constant_outputs
        self._read_names = None

    # -- names ------------------------------------------------------------------------------
    @staticmethod
    def param_prefix(initializer_name: str) -> str | None:
        """'features.0.weight' -> 'features.0' (torch's module path); None if not dotted."""
        head, dot, _ = initializer_name.rpartition(".")
        return head if dot and head else None

    def layer_name(self, stem: str) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.]", "_", stem).strip(".") or "layer"
        name = stem
        k = 1
        while name in self._layer_names or name in self.graph.ir._names:
            k += 1
            name = f"{stem}_{k}"
        self._layer_names.add(name)
        return name

    def node_name(self, stem: str) -> str:
        return self.layer_name(stem)

    # -- values -----------------------------------------------------------------------------
    def value(self, name: str, ctx):
        try:
            return self.env[name]
        except KeyError:
            ctx.fail(f"input {name!r} is not produced by any earlier node, initializer or graph input "
                     "(the graph has a cycle, is not in topological order, or misses a value)")

    def is_read(self, name: str) -> bool:
        """Whether a node or the graph's outputs read value `name`: an output nobody reads
        (Dropout's mask in old exports) need not be produced."""
        if self._read_names is None:
            self._read_names = set()
            graphs = [self.model.graph]
            while graphs:  # the top-level nodes and those of If branches (subgraphs)
                g = graphs.pop()
                nodes = self.nodes if g is self.model.graph else g.node
                self._read_names |= {o.name for o in g.output}
                for n in nodes:
                    self._read_names.update(i for i in n.input if i)
                    for a in n.attribute:
                        graphs += [a.g] if a.HasField("g") else list(a.graphs)
        return name in self._read_names

    # -- the walk ---------------------------------------------------------------------------
    def check_supported(self, nodes):
        missing = {}
        for node in nodes:
            domain = node.domain if node.domain not in ("", "ai.onnx") else ""
            key = op_key(node)
            if key is None or find_converter(key, self.opset) is None:
                key = (node.op_type, domain)
                if key not in missing:
                    missing[key] = [0, node.name or (node.output[0] if node.output else "")]
                missing[key][0] += 1
        if missing:
            raise UnsupportedOperatorError([(t, d, n, first, self.opset)
                                            for (t, d), (n, first) in missing.items()])

    def _declared_inputs(self):
        init_names = {t.name for t in self.model.graph.initializer}
        return [i for i in self.model.graph.input if i.name not in init_names]

    def _input_shape_for(self, vi, position, count):
        given = self._input_shape
        if isinstance(given, dict):
            given = given.get(vi.name)
        elif given is not None and count > 1:
            raise ValueError(f"the model has {count} inputs; give input_shape as a dict by input name")
        t = vi.type.tensor_type
        declared = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] \
            if t.HasField("shape") else None
        if given is not None:
            shape = tuple(int(d) for d in given)
            if declared is not None and len(declared) != len(shape):
                raise ValueError(f"input_shape for input {vi.name!r} has {len(shape)} dims, the model declares "
                                 f"{len(declared)}: {tuple('?' if d is None else d for d in declared)}")
            for k, (g, d) in enumerate(zip(shape[1:], (declared or [None] * len(shape))[1:])):
                if d not in (None, 0) and g != d:
                    raise ValueError(f"input_shape {shape} for input {vi.name!r}: dim {k + 1} is {g}, the model "
                                     f"declares {d}")
        else:
            if declared is None:
                raise ValueError(f"input {vi.name!r} has no declared shape; pass input_shape=(N, C, H, W)")
            if any(d in (None, 0) for d in declared[1:]):
                raise ValueError(f"input {vi.name!r} has symbolic dims "
                                 f"{tuple('?' if d in (None, 0) else d for d in declared)}; pass input_shape")
            shape = tuple(1 if d in (None, 0) else d for d in declared)
        if not shape:
            raise ValueError(f"input {vi.name!r} is a scalar; a model's inputs need a batch dimension")
        if declared and declared[0] not in (None, 0):
            self.static_batch = int(declared[0])
        if any(d <= 0 for d in shape[1:]):
            raise ValueError(f"input_shape for input {vi.name!r} must have positive sizes, got {shape}")
        check_sample_size(shape[1:], f"input {vi.name!r}")
        if t.elem_type not in (1, 0):  # FLOAT (or unset)
            from onnx import TensorProto
            raise ValueError(f"input {vi.name!r} has element type {TensorProto.DataType.Name(t.elem_type)}; "
                             "only float32 inputs are supported")
        return shape

    def convert_nodes(self, nodes):
        """Convert `nodes` in order, binding their outputs in the environment."""
        for node in nodes:
            ctx = ConvertContext(self, node)
            fn = find_converter(op_key(node), self.opset)
            try:
                out = fn(ctx)
            except ConversionError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, RuntimeError) as e:
                # a layer's or op's own argument check (C++ checks arrive as RuntimeError)
                raise ConversionError(f"ONNX node {ctx.name!r} ({node.op_type}, opset {self.opset}): {e}") from None
            outs = out if isinstance(out, tuple) else (out,)
            # numpy folds of 0-d values give numpy scalars (np.take(a, 1)): constants are arrays
            outs = tuple(np.asarray(v) if isinstance(v, np.generic) else v for v in outs)
            for name, v in zip(node.output, outs):
                if is_graph_value(v):
                    try:
                        check_sample_size(v.shape, f"output {name!r}")
                    except ValueError as e:
                        ctx.fail(str(e))
            for name, v in zip(node.output, outs):
                if name == "":
                    continue
                if name in self.env:
                    raise ConversionError(f"ONNX node {ctx.name!r} ({node.op_type}): output {name!r} is already "
                                          "defined (duplicate value name)")
                self.env[name] = v
            unproduced = [n for n in node.output[len(outs):] if self.is_read(n)]
            if unproduced:
                ctx.fail(f"produces {len(outs)} output(s); the model reads output(s) {unproduced} too")

    def check_supported_nodes(self, nodes, where):
        """ValueError listing the nodes of `nodes` (a subgraph) that have no converter."""
        bad = sorted({n.op_type for n in nodes if op_key(n) is None or find_converter(op_key(n), self.opset) is None})
        if bad:
            raise ConversionError(f"{where} uses operators cnnnative cannot import: {', '.join(bad)}")

    def build(self) -> Graph:
        g = self.model.graph
        for t in g.initializer:
            if t.name in self.initializers:
                raise ValueError(f"initializer {t.name!r} is defined twice")
            self.initializers[t.name] = _tensor_array(t, "initializer")
        self.env.update(self.initializers)
        inputs = self._declared_inputs()
        if not inputs and not self.constant_outputs:
            raise ValueError("the ONNX graph has no (non-initializer) input")
        for k, vi in enumerate(inputs):
            shape = self._input_shape_for(vi, k, len(inputs))
            self.env[vi.name] = self.graph.input(shape[1:], name=self.layer_name(vi.name))
        constants = dict(self.initializers)
        constants.update(_constant_node_values(g.node))
        self.nodes = lift_patterns(g.node, [o.name for o in g.output], constants)
        self.check_supported(self.nodes)  # after lifting: ops a pattern absorbed need no converter
        self.convert_nodes(self.nodes)
        outputs, constant_outputs = [], {}
        for vi in g.output:
            if vi.name not in self.env:
                raise ValueError(f"graph output {vi.name!r} is never produced")
            v = self.env[vi.name]
            if type(v).__name__ == "QuantizedValue":
                raise ValueError(f"graph output {vi.name!r} is the integer output of QuantizeLinear {v.node!r}; "
                                 "cnnnative graphs return float32 values")
            if is_graph_value(v):
                outputs.append(v)
            elif self.constant_outputs:
                constant_outputs[vi.name] = v  # a numpy array, or a ShapeTensor holding the batch
            else:
                raise ValueError(f"graph output {vi.name!r} is a constant (it does not depend on the input); "
                                 "cnnnative graphs return run-time values")
        if outputs or not self.constant_outputs:
            self.graph.output(*outputs)
        self.graph.onnx_constant_outputs = constant_outputs
        self.graph.onnx_input_names = [vi.name for vi in inputs]
        self.graph.onnx_output_names = [vi.name for vi in g.output]
        self.graph.onnx_opset = self.opset
        return self.graph
