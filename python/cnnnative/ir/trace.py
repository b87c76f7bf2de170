"""Tracing: a Module's OpGraph, recorded by running its own forward once.

The model runs in eval mode, under no_grad, on a `cnnnative.Tensor` holding one seeded
random sample per input (batch 1), so its peak memory is one eager batch-1 call. (Layers
take no shortcut around the ops while a trace runs: an in-place activation calls its op.) The ops dispatcher reports every op called on Tensors
to the trace hook (`cnnnative.autograd`'s per-thread `tracer`: the op's name, its
arguments and its result), which appends a node: tensors made by earlier traced ops
become graph values, parameters and other arrays become the node's params (by reference,
never copied), everything else its attrs. Ops inside an op run on plain arrays, so only
the outer call is a node. Each node remembers the dotted name (as in `named_modules`) of
the innermost module whose forward was running, and an error raised while tracing names
that layer.

The batch dim is dynamic in the graph: shapes come from the shape rules (`shapes.py`),
and a reshape/view whose first target dim is the traced batch records -1 there.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import weakref

import numpy as np

from .graph import OpGraph, Value
from .shapes import by_rule

__all__ = ["trace", "TraceError"]

TRACE_BATCH = 1


class TraceError(ValueError):
    """Something a traced graph cannot express: an output not made by the ops, an op that
    mixes samples across the (dynamic) batch dim."""


def _tensor_type():
    from ..tensor import Tensor
    return Tensor


class _Recorder:
    """The state of one trace: the graph, tensor -> value, the module scope stack."""

    def __init__(self, graph):
        self.graph = graph
        # id(tensor) -> (weak reference to it, Value): intermediates die as the forward
        # goes on (as in an eager call); the weak reference tells a reused id apart.
        self.values: dict[int, tuple] = {}
        self.scope: list[str] = []
        self.Tensor = _tensor_type()

    def bind(self, tensor, value):
        self.values[id(tensor)] = (weakref.ref(tensor), value)

    def value_of(self, t):
        hit = self.values.get(id(t))
        return hit[1] if hit is not None and hit[0]() is t else None

    def convert(self, a):
        """An op argument as the graph stores it."""
        if isinstance(a, self.Tensor):
            v = self.value_of(a)
            return v if v is not None else a.data  # a parameter or constant tensor
        if isinstance(a, list):
            return [self.convert(x) for x in a]
        if isinstance(a, tuple):
            return tuple(self.convert(x) for x in a)
        return a

    @property
    def where(self):
        return self.scope[-1] if self.scope else ""

    # -- the hook the ops dispatcher calls after each op on Tensors ---------------------------
    def __call__(self, name, args, kwargs, result):
        from .execute import op_function
        self.record(name, op_function(name), args, kwargs, result)

    def record(self, name, function, args, kwargs, result):
        try:
            bound = inspect.signature(function).bind(*args, **kwargs)
        except TypeError:
            return  # not a call we can replay; its outputs stay constants
        arguments = {k: self.convert(a) for k, a in bound.arguments.items() if k != "out"}
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        if not all(isinstance(t, self.Tensor) for t in outs):
            return
        reads = [v for a in arguments.values() for v in _values(a)]
        if not reads:
            return  # made from constants only: stays a constant
        if name == "reshape":
            _dynamic_batch_target(arguments, reads[0])
        try:
            shapes = _shapes(name, arguments, outs, any(v.batched for v in reads))
        except ValueError as e:
            where = f"layer {self.where!r}, " if self.where else ""
            error = TraceError(f"compile(): {where}op {name}: {e}")
            error._cn_located = True  # the enclosing layers leave the message as it is
            raise error from None
        produced = self.graph.add_node(name, arguments, scope=self.where, shapes=shapes)
        for t, v in zip(outs, produced if isinstance(produced, tuple) else (produced,)):
            self.bind(t, v)


def _values(a):
    if isinstance(a, Value):
        yield a
    elif isinstance(a, (list, tuple)):
        for x in a:
            yield from _values(x)


def _dynamic_batch_target(arguments, x):
    """x.reshape(x.shape[0], -1) traced at batch B records (-1, F): any batch runs."""
    target = arguments.get("shape")
    if not x.batched or not isinstance(target, (tuple, list)) or not target or target[0] != TRACE_BATCH:
        return
    rest = [int(d) for d in target[1:]]
    if -1 in rest:  # the batch takes the -1: work out the other one from the sample size
        known = math.prod(d for d in rest if d != -1)
        rest[rest.index(-1)] = math.prod(x.sample_shape) // max(known, 1)
    arguments["shape"] = (-1, *rest)


def _shapes(name, arguments, outs, batched):
    try:
        shapes = by_rule(name, arguments)
    except TypeError:
        shapes = None  # the op takes arguments the rule does not know: use what ran
    # A ValueError propagates: the op ran at batch 1 but its rule says it cannot run on
    # a dynamic batch (a reshape or cat across the batch dim).
    if shapes is not None and len(shapes) == len(outs) and all(
            len(s) == t.ndim and all(d is None or d == e for d, e in zip(s, t.shape))
            for s, t in zip(shapes, outs)):
        return shapes
    # No rule (or one that disagrees with what ran): the traced shapes, batch dim marked.
    return [(None,) + tuple(t.shape[1:]) if batched and t.ndim and t.shape[0] == TRACE_BATCH else tuple(t.shape)
            for t in outs]


def _located(e, layer, kind):
    """The same exception type, its message prefixed with the layer path and class."""
    if getattr(e, "_cn_located", False):
        return e
    try:
        new = type(e)(f"compile(): layer {layer or '(the model)'!r} ({kind}): {e}")
    except Exception:  # an exception type that takes other arguments: leave it
        return e
    new._cn_located = True
    return new


@contextlib.contextmanager
def _hook(recorder):
    from .. import autograd
    previous = autograd._state.tracer
    autograd._state.tracer = recorder
    try:
        yield
    finally:
        autograd._state.tracer = previous


@contextlib.contextmanager
def _scopes(model, recorder):
    """Wrap each module's forward (an instance attribute for the trace's duration) so the
    recorder knows which layer is running."""
    patched = []
    for path, m in model.named_modules():
        if "forward" in m.__dict__:
            continue
        bound = m.forward

        def forward(*args, _bound=bound, _path=path, **kwargs):
            recorder.scope.append(_path)
            try:
                return _bound(*args, **kwargs)
            except (ValueError, TypeError, OverflowError, RuntimeError) as e:
                raise _located(e, _path, type(_bound.__self__).__name__) from None
            finally:
                recorder.scope.pop()
        m.__dict__["forward"] = forward
        patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)


def _as_module(model):
    from ..nn import Module
    if isinstance(model, Module):
        return model
    if type(model).__module__.split(".")[0] == "torch" or any(
            c.__module__.split(".")[0] == "torch" for c in type(model).__mro__):
        from ..torch_adapter import from_torch
        return from_torch(model)
    raise TypeError(f"compile(): cannot trace a {type(model).__name__}: give a cnnnative.nn.Module "
                    "(any forward made of cnnnative.ops calls) or a torch.nn module")


def trace(model, input_shapes, *, seed=0) -> OpGraph:
    """The OpGraph of `model.forward` for inputs of `input_shapes` (a list of shapes; the
    first dim of each is the batch, which the graph leaves dynamic). Eval mode; the
    model's training flags are restored afterwards."""
    from ..autograd import no_grad
    model = _as_module(model)
    Tensor = _tensor_type()
    graph = OpGraph()
    recorder = _Recorder(graph)
    rng = np.random.default_rng(seed)
    inputs = []
    for k, shape in enumerate(input_shapes):
        sample = tuple(int(d) for d in shape[1:])
        v = graph.input((None,) + sample, name="input" if len(input_shapes) == 1 else f"input{k}")
        t = Tensor(rng.standard_normal((TRACE_BATCH,) + sample).astype(np.float32))
        recorder.bind(t, v)
        inputs.append(t)
    modes = [(m, m.training) for m in model.modules()]
    model.train(False)
    try:
        with no_grad(), _hook(recorder), _scopes(model, recorder):
            result = model(*inputs)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    values = []
    for i, t in enumerate(outs):
        v = recorder.value_of(t) if isinstance(t, Tensor) else None
        if v is None:
            raise TraceError(f"compile(): output {i} of {type(model).__name__}.forward was not computed by "
                             "cnnnative.ops from the input (a constant, or made with numpy outside the ops)")
        values.append(v)
    graph.set_outputs(*values)
    graph.remove_dead_nodes()
    return graph
