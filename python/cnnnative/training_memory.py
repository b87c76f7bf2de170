"""How much memory one training forward keeps for the backward, measured, not estimated:
the model runs once in training mode with recording on (batch 1), and every array the
recorded graph holds (the inputs each op keeps as its parents, the arrays its backward
closure saved: ReLU outputs, max-pool indices, dropout masks, ...) is counted once per
underlying buffer; the model's own parameters and buffers are not. A buffer made by an op
counts for that op; any other (the input image, indices) for the first op that keeps it.

The model's training flags, buffers (BatchNorm running statistics) and dropout
generators are restored afterwards, so measuring changes nothing.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np

__all__ = ["saved_for_backward"]


def _root(a):
    while isinstance(getattr(a, "base", None), np.ndarray):
        a = a.base
    return a


def _arrays(obj, depth=0):
    """numpy arrays reachable from a backward closure (cells, tuples, lists, dicts, nested
    functions, Tensors' data)."""
    from .tensor import Tensor
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, Tensor):
        if isinstance(obj.data, np.ndarray):
            yield obj.data
    elif depth > 4:
        return
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            yield from _arrays(x, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _arrays(x, depth + 1)
    elif isinstance(obj, (types.FunctionType, types.MethodType)):
        fn = getattr(obj, "__func__", obj)
        for cell in fn.__closure__ or ():
            try:
                yield from _arrays(cell.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                pass
        if isinstance(obj, types.MethodType):
            yield from _arrays(obj.__self__, depth + 1)


class _OpLog:
    """The tracer hook: (scope, op name, output Tensors) of every op call, in order."""

    def __init__(self):
        self.scope, self.calls = [], []

    def __call__(self, name, args, kwargs, result):
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        self.calls.append((self.scope[-1] if self.scope else "", name, outs))


@contextlib.contextmanager
def _untouched(model):
    """Training mode for the block; flags, buffers and dropout generators restored."""
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(m, k, v, np.array(v, copy=True)) for m in model.modules() for k, v in m._buffers.items()
               if isinstance(v, np.ndarray)]
    rngs = [(g, g.bit_generator.state) for m in model.modules() for g in vars(m).values()
            if isinstance(g, np.random.Generator)]
    model.train()
    try:
        yield
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for m, k, array, saved in buffers:  # the same array objects, their values back
            np.copyto(array, saved)
            m._buffers[k] = array
        for g, state in rngs:
            g.bit_generator.state = state


def _measure(model, sample_shape, batch):
    from . import autograd
    from .ir.trace import _scopes
    from .tensor import Tensor
    log = _OpLog()
    x = Tensor(np.random.default_rng(0).standard_normal((batch,) + sample_shape).astype(np.float32))
    previous = autograd._state.tracer
    with autograd.enable_grad(), _scopes(model, log):
        autograd._state.tracer = log
        try:
            out = model(x)
        finally:
            autograd._state.tracer = previous
    owned = {id(_root(a)) for m in model.modules() for a in
             [p.data for p in m._parameters.values() if p is not None] + list(m._buffers.values())
             if isinstance(a, np.ndarray)}
    made = {}  # id(root buffer) -> index of the call that made it
    for i, (_, _, outs) in enumerate(log.calls):
        for t in outs:
            if isinstance(t, Tensor) and isinstance(t.data, np.ndarray):
                made.setdefault(id(_root(t.data)), i)
    counted, per_call = set(), [0] * len(log.calls)
    for i, (_, _, outs) in enumerate(log.calls):
        node = next((t._node for t in outs if isinstance(t, Tensor) and t._node is not None), None)
        if node is None:
            continue
        held = list(_arrays(list(node.parents))) + list(_arrays(node.backward))
        for a in held:
            r = _root(a)
            if id(r) in owned or id(r) in counted:
                continue
            counted.add(id(r))
            per_call[made.get(id(r), i)] += int(r.nbytes)
    del out
    return [(scope, name, b / batch) for (scope, name, _), b in zip(log.calls, per_call)]


def saved_for_backward(model, sample_shape):
    """[(layer scope, op name, bytes kept for the backward)] per op call of one training
    forward, per sample (batch 1; batch 2 halved when batch 1 is refused, e.g. by a
    BatchNorm1d)."""
    sample_shape = tuple(int(d) for d in sample_shape)
    with _untouched(model):
        try:
            return _measure(model, sample_shape, 1)
        except ValueError:
            return _measure(model, sample_shape, 2)
