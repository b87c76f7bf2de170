"""cnnnative as an ONNX backend (`onnx.backend.base.Backend`), for the conformance suite
`onnx.backend.test` and for anyone who drives backends through that interface:

    import cnnnative.onnx.backend as backend
    rep = backend.prepare(model)              # model: an onnx.ModelProto
    outputs = rep.run([x])                    # numpy arrays, in the model's output order
    outputs = backend.run_node(node, [x, w])  # one node, its opset the newest onnx knows

A cnnnative graph is *batched*: its inputs are float32 tensors whose first dim is a
dynamic batch, and everything else (weights, shapes, axes, pads) is a constant folded at
load. ONNX models may instead feed weights or shapes as graph inputs (the node tests do),
so the backend decides per call which inputs are data:

- the data input is the first non-initializer graph input, when its value is a float32
  tensor of rank >= 1; it stays a run-time graph input (its first dim the batch);
- every other input is bound, at run time, as an initializer of that value, and the model
  is re-imported; imports are cached by the data input's per-sample shape and the bound
  values, so repeated runs with the same weights import once;
- when that import fails, every float input whose first dim equals the data input's is
  made a run-time input too (Add(x, y) of two (3, 4, 5) tensors: a constant (3, 4, 5)
  cannot broadcast against the dynamic batch); the error of each binding is reported
  when none imports;
- outputs that do not depend on the data input (a model with no float input, Shape of the
  input, ...) are computed at import, the batch size substituted where a shape holds it;
- outputs are returned with the dtype the model declares for them (cnnnative computes
  float32; integer outputs such as Shape's keep their integer type).

Nothing is skipped: an unsupported op or attribute raises, with the importer's message,
so a conformance test fails rather than being hidden.
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["CnnnativeBackend", "CnnnativeBackendRep", "prepare", "run_model", "run_node",
           "supports_device", "is_compatible"]

from onnx.backend.base import Backend, BackendRep, Device, DeviceType


def _cuda_available() -> bool:
    from .. import _cuda_info
    return bool(_cuda_info()["available"])


def _declared_dtype(value_info):
    """The numpy dtype a graph input/output declares, or None when it declares none."""
    from onnx import helper
    t = value_info.type
    if not t.HasField("tensor_type") or t.tensor_type.elem_type == 0:
        return None
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type))
    except (KeyError, TypeError, ValueError):
        return None


def _value_key(value: np.ndarray):
    """What identifies a bound input's value in the import cache."""
    if value.dtype.kind == "O":  # strings: their text, not the object pointers
        digest = hashlib.sha1(repr(value.tolist()).encode()).hexdigest()
    else:
        digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
    return (value.dtype.str, value.shape, digest)


class CnnnativeBackendRep(BackendRep):
    """A prepared model: `run(inputs)` returns its outputs (numpy) in the model's order."""

    def __init__(self, model, device: str = "CPU", compiled: bool = False, fold_fallback: bool = False):
        from ._read import read_model
        self.model, _ = read_model(model)  # checked once; external data resolved
        self.device = device
        self.compiled = compiled or Device(device).type == DeviceType.CUDA
        self.fold_fallback = fold_fallback
        g = self.model.graph
        init_names = {t.name for t in g.initializer}
        self.input_infos = [vi for vi in g.input if vi.name not in init_names]
        self.output_infos = list(g.output)
        self._imports: dict = {}   # cache key -> imported nn.Graph
        self._compiled: dict = {}  # (cache key, batch) -> CompiledModel
        if len(self.input_infos) == 1 and _declared_dtype(self.input_infos[0]) in (None, np.dtype(np.float32)):
            # the usual model: one data input, everything else initializers -- import now,
            # so an unsupported op fails at prepare
            info = self.input_infos[0]
            sample = _static_sample_shape(info)
            if sample is not None:
                from ._importer import UnsupportedOperatorError
                try:
                    self._imported({info.name: np.zeros((1,) + sample, np.float32)}, (info.name,))
                except UnsupportedOperatorError:
                    raise
                except ValueError:
                    pass  # run() tries the other bindings, and reports this error if none imports

    # -- binding and importing -------------------------------------------------------------
    def _bindings(self, values):
        """The choices of data inputs to try, in order: the first input alone (everything
        else a constant: weights become layers), then every float input that shares its
        first dim (the batch) -- Add(x, y) of two (3, 4, 5) tensors needs both as run-time
        values, as a constant (3, 4, 5) cannot broadcast against a dynamic batch."""
        names = list(values)
        if not names:
            return [()]
        first = values[names[0]]
        if first.dtype != np.float32 or first.ndim < 1:
            return [()]
        batched = tuple(n for n in names if values[n].dtype == np.float32 and values[n].ndim >= 1
                        and values[n].shape[0] == first.shape[0])
        choices = [(names[0],)] if batched == (names[0],) else [(names[0],), batched]
        if self.fold_fallback:
            choices.append(())  # opt-in: every input a constant, the outputs folded at import
        return choices

    def _imported(self, values, data_names):
        bound = {n: v for n, v in values.items() if n not in data_names}
        key = (tuple((n, values[n].shape[1:]) for n in data_names),
               tuple(sorted((n, _value_key(v)) for n, v in bound.items())))
        graph = self._imports.get(key)
        if graph is None:
            graph = self._import({n: values[n].shape for n in data_names}, bound)
            self._imports[key] = graph
        return key, graph

    def _import(self, input_shape, bound):
        from onnx import ModelProto, numpy_helper

        from . import _register_converters
        from ._importer import Importer
        model = ModelProto()
        model.CopyFrom(self.model)
        for name, value in bound.items():
            model.graph.initializer.append(numpy_helper.from_array(value, name))
        from ..nn.init import skip_random_init
        _register_converters()
        with skip_random_init():  # every imported weight is overwritten from the model
            graph = Importer(model, input_shape or None, constant_outputs=True).build()
        graph.eval()
        return graph

    # -- running -----------------------------------------------------------------------------
    def _named_inputs(self, inputs):
        names = [vi.name for vi in self.input_infos]
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f"inputs: the model needs {names}, missing {missing}")
            inputs = [inputs[n] for n in names]
        elif isinstance(inputs, np.ndarray):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(names):
            raise ValueError(f"inputs: the model has {len(names)} input(s) {names}, got {len(inputs)} value(s)")
        for name, v in zip(names, inputs):
            if not isinstance(v, (np.ndarray, np.generic)):
                raise TypeError(f"input {name!r}: expected a numpy array, got {type(v).__name__} "
                                "(sequence, map and optional values are not supported)")
        return {n: np.asarray(v) for n, v in zip(names, inputs)}

    def run(self, inputs, **kwargs):
        from ._importer import UnsupportedOperatorError
        values = self._named_inputs(inputs)
        errors = []
        for data_names in self._bindings(values):
            try:
                key, graph = self._imported(values, data_names)
                break
            except UnsupportedOperatorError:
                raise  # the same whatever the binding
            except ValueError as e:
                errors.append(e)
        else:
            if len(errors) == 1:
                raise errors[0]
            raise type(errors[0])("; ".join(f"with run-time input(s) {list(d)}: {e}" for d, e in
                                            zip(self._bindings(values), errors))) from None
        data = [values[n] for n in data_names]
        runtime = {}
        runtime_names = [vi.name for vi in self.output_infos if vi.name not in graph.onnx_constant_outputs]
        if runtime_names:
            out = self._run_graph(graph, key, data)
            out = out if isinstance(out, tuple) else (out,)
            runtime = dict(zip(runtime_names, out))
        batch = data[0].shape[0] if data else None
        results = []
        for vi in self.output_infos:
            if vi.name in runtime:
                v = np.asarray(runtime[vi.name])
            else:
                v = _constant_output(graph.onnx_constant_outputs[vi.name], batch)
            dtype = _declared_dtype(vi)
            if dtype is not None and v.dtype != dtype:
                v = v.astype(dtype)
            results.append(v)
        return tuple(results)

    def _run_graph(self, graph, key, data):
        if not self.compiled:
            return graph(*data)
        if len(data) != 1:
            raise ValueError(f"compiled=True runs models with one run-time input; this binding has {len(data)}")
        from .. import compile as compile_model
        ck = (key, data[0].shape[0])
        fast = self._compiled.get(ck)
        if fast is None:
            device = "cuda" if Device(self.device).type == DeviceType.CUDA else "cpu"
            fast = compile_model(graph, data[0].shape, device=device)
            self._compiled[ck] = fast
        return fast(data[0])


def _static_sample_shape(info):
    """A graph input's declared dims after the first, when all are known and positive."""
    t = info.type.tensor_type
    if not info.type.HasField("tensor_type") or not t.HasField("shape") or not t.shape.dim:
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim[1:]]
    return None if any(d <= 0 for d in dims) else tuple(dims)


def _constant_output(value, batch):
    from ._values import BATCH, ShapeTensor
    if isinstance(value, ShapeTensor):
        if batch is None:
            raise ValueError(f"output {value!r} depends on the batch size, but the model has no data input")
        return np.array([batch if e is BATCH else e for e in value.entries], dtype=np.int64)
    return np.asarray(value)


class CnnnativeBackend(Backend):
    """The `onnx.backend.base.Backend` of cnnnative (CPU; CUDA when cnnnative.cuda is available)."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        kind = Device(device).type
        if kind == DeviceType.CPU:
            return True
        if kind == DeviceType.CUDA:
            return _cuda_available()
        return False

    @classmethod
    def prepare(cls, model, device: str = "CPU", compiled: bool = False, fold_fallback: bool = False,
                **kwargs) -> CnnnativeBackendRep:
        """Check and prepare `model` (an onnx.ModelProto, a path or bytes). compiled=True runs
        it through `cnnnative.compile` (always so on CUDA); the default runs the eager graph.
        fold_fallback=True: when no binding with run-time inputs imports (an op that mixes the
        first dim, the batch, with the others), bind every input as a constant and compute the
        outputs at import (the converters' folding path) -- a diagnostic for the report tool,
        off in the CI suite. Other keyword arguments (the runner's rtol/atol) are ignored."""
        if not cls.supports_device(device):
            raise ValueError(f"device {device!r} is not available to cnnnative "
                             "(CPU always; CUDA when cnnnative.cuda is available)")
        return CnnnativeBackendRep(model, device, compiled=compiled, fold_fallback=fold_fallback)

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        """Run one node on `inputs` (numpy arrays, one per non-empty node input). Its opset is
        kwargs['opset_version'], else the newest the installed onnx knows; outputs_info
        ([(dtype, shape)] per output) declares the output types."""
        import onnx
        from onnx import helper
        super().run_node(node, inputs, device=device, outputs_info=outputs_info, **kwargs)
        present = [n for n in node.input if n]
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in present]
        inputs = [np.asarray(v) for v in inputs]
        if len(inputs) != len(present):
            raise ValueError(f"inputs: node {node.op_type} has {len(present)} input(s), got {len(inputs)}")
        in_infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for n, v in zip(present, inputs)]
        opset = int(kwargs.get("opset_version", onnx.defs.onnx_opset_version()))
        outputs = [n for n in node.output if n]
        if outputs_info is not None:
            out_infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
                         for n, (dtype, shape) in zip(outputs, outputs_info)]
        else:  # the output types as onnx's shape inference gives them
            try:
                schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
                types = onnx.shape_inference.infer_node_outputs(schema, node, {i.name: i.type for i in in_infos})
            except Exception as e:
                raise ValueError(f"run_node: cannot infer the output types of {node.op_type} at opset {opset} "
                                 f"(pass outputs_info): {e}") from None
            out_infos = [helper.make_value_info(n, types[n]) for n in outputs if n in types]
        if len(out_infos) != len(outputs):
            raise ValueError(f"run_node: {node.op_type} has {len(outputs)} output(s), types known for "
                             f"{len(out_infos)} (pass outputs_info)")
        model = helper.make_model(helper.make_graph([node], f"{node.op_type}_node", in_infos, out_infos),
                                  opset_imports=[helper.make_opsetid(node.domain or "", opset)])
        return cls.prepare(model, device).run(inputs)


prepare = CnnnativeBackend.prepare
run_model = CnnnativeBackend.run_model
run_node = CnnnativeBackend.run_node
supports_device = CnnnativeBackend.supports_device
is_compatible = CnnnativeBackend.is_compatible
