"""ExportContext: what an op's exporter writes ONNX nodes and initializers through.

An exporter (registered with `@exporter("conv2d", ...)` in `_export_registry.py`) gets the
context and one OpGraph node, and emits one or more ONNX nodes whose last output carries the
node's output value name. The context hands out fresh tensor names, turns arrays into
initializers (a model parameter or buffer keeps its state_dict name; any other array, and
every number, becomes a constant), and knows the target opset, so exporters can pick the
operator form valid there (e.g. ReduceMean's axes: an attribute before 18, an input from 18).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..ir.graph import Value


class ExportError(ValueError):
    """An op whose arguments ONNX (at the requested opset) cannot express."""


class ExportContext:
    def __init__(self, onnx, opset: int, param_names: dict):
        self.onnx = onnx  # the onnx package (helper, numpy_helper, TensorProto)
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        # id(array) -> state_dict key; filled by the caller from the model's parameters
        self._param_names = param_names
        self._initialized: dict[int, str] = {}  # id(array) -> initializer already written
        self._keep_alive: list = []  # arrays whose ids key _initialized
        self._used: set[str] = set()
        self._counts: dict[str, int] = {}
        self.node = None  # the OpGraph node being exported (for names and errors)

    # -- names ------------------------------------------------------------------------------
    def reserve(self, name: str) -> str:
        self._used.add(name)
        return name

    def fresh(self, stem: str) -> str:
        """A tensor/node name not used yet, derived from the current node's name."""
        base = f"{self.node.name}/{stem}" if self.node is not None else stem
        while True:
            k = self._counts.get(base, 0)
            self._counts[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
            if name not in self._used:
                self._used.add(name)
                return name

    # -- values -----------------------------------------------------------------------------
    def input(self, arg: str) -> str:
        """The ONNX name of the current node's argument `arg`: a graph value, a parameter
        array (an initializer) or a number (a float32 constant)."""
        return self.tensor(self.node.args[arg], stem=arg)

    def tensor(self, a, stem="const") -> str:
        if isinstance(a, Value):
            return a.name
        if isinstance(a, np.ndarray):
            return self.array(a, stem)
        if isinstance(a, numbers.Real) and not isinstance(a, bool):
            return self.const(np.array(a, np.float32), stem)
        raise ExportError(f"argument {stem} is a {type(a).__name__}, not a tensor")

    def array(self, a: np.ndarray, stem: str) -> str:
        """An initializer for a parameter/constant array, written once per array object.
        Float arrays are stored as float32 (what the ops compute in)."""
        hit = self._initialized.get(id(a))
        if hit is not None:
            return hit
        name = self._param_names.get(id(a))
        name = self.reserve(name) if name is not None and name not in self._used else self.fresh(stem)
        data = a.astype(np.float32) if a.dtype.kind in "fbiu" and a.dtype != np.float32 else a
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(data), name))
        self._initialized[id(a)] = name
        self._keep_alive.append(a)
        return name

    def param_as(self, a: np.ndarray, shape, stem: str) -> str:
        """A parameter stored with another (broadcastable) shape, still under its state_dict
        name (PReLU's (C,) slope as (C, 1, 1), say)."""
        name = self._param_names.get(id(a))
        name = self.reserve(name) if name is not None and name not in self._used else self.fresh(stem)
        data = np.asarray(a, np.float32).reshape(shape)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(data), name))
        return name

    def const(self, data, stem="const") -> str:
        """A fresh initializer holding `data` (numpy array; keeps its dtype)."""
        name = self.fresh(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(data), name))
        return name

    def ints(self, values, stem="shape") -> str:
        """An int64 1-D constant (shapes, axes, pads)."""
        return self.const(np.asarray(list(values), np.int64).reshape(-1), stem)

    def scalar(self, value, stem="const") -> str:
        return self.const(np.array(value, np.float32), stem)

    # -- nodes ------------------------------------------------------------------------------
    def emit(self, op_type: str, inputs, out=None, outputs=1, **attrs):
        """Append an ONNX node; returns its output name (a list when outputs > 1). `out`
        names the (first) output; by default a fresh name. None attributes are left out."""
        if isinstance(out, (list, tuple)):
            names = list(out)
        else:
            names = [out if out is not None else self.fresh(op_type)]
            names += [self.fresh(f"{op_type}_{k}") for k in range(1, outputs)]
        for n in names:
            self._used.add(n)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names,
                                                     name=self.fresh(f"{op_type}_node"), **attrs))
        return names if len(names) > 1 else names[0]

    @property
    def out(self) -> str:
        """The name the current node's (single) output must carry."""
        return self.node.output.name

    def shape_of(self, arg: str) -> tuple:
        """The traced shape of a value argument (None = the dynamic batch)."""
        return tuple(self.node.args[arg].shape)

    def fail(self, why: str):
        raise ExportError(why)

    # -- shared emitting patterns -----------------------------------------------------------
    def reshape(self, x: str, target, out=None) -> str:
        """Reshape to `target`, a shape whose first entry may be None (the dynamic batch,
        written 0 = 'copy the input's first dim')."""
        dims = [0 if d is None else int(d) for d in target]
        return self.emit("Reshape", [x, self.ints(dims)], out)

    def axes_op(self, op_type: str, x: str, axes, out=None, since_input=13, **attrs) -> str:
        """Squeeze/Unsqueeze/Reduce*: axes an input from `since_input`, an attribute before."""
        if axes is None:
            return self.emit(op_type, [x], out, **attrs)
        axes = [int(a) for a in axes]
        if self.opset >= since_input:
            return self.emit(op_type, [x, self.ints(axes, "axes")], out, **attrs)
        return self.emit(op_type, [x], out, axes=axes, **attrs)

    def clip(self, x: str, low, high, out=None) -> str:
        """Clip with optional bounds (inputs since opset 11; '' leaves one out)."""
        lo = "" if low is None else self.scalar(low, "min")
        hi = "" if high is None else self.scalar(high, "max")
        inputs = [x, lo, hi]
        while inputs[-1] == "":
            inputs.pop()
        return self.emit("Clip", inputs, out)
