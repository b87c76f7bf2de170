"""Running an OpGraph: each node is a call of its op (or its module), in graph order.

Values are dropped as soon as their last reader has run, so eval-mode memory stays at the
live frontier. Whatever the inputs are -- numpy arrays, recording `cnnnative.Tensor`s or
`cnnnative.cuda.Tensor`s -- the ops dispatch on them, so a graph run on recording tensors
is differentiated by autograd like any other code (no graph-level backward).
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

__all__ = ["call_op", "run_node", "run", "op_function"]


def op_function(name: str):
    """The `cnnnative.ops` function called `name` (its dispatching wrapper)."""
    from .. import ops
    fn = getattr(ops, name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"{name!r} is not a cnnnative.ops function")
    return fn


@functools.lru_cache(maxsize=None)
def _signature(name: str):
    return inspect.signature(op_function(name))


def call_op(name: str, args: dict):
    """Call op `name` with `args` given by parameter name (positional-only and *args
    parameters are passed positionally, as the signature wants)."""
    bound = inspect.BoundArguments(_signature(name), dict(args))
    return op_function(name)(*bound.args, **bound.kwargs)


def resolve_value(a, env):
    """An op argument with graph Values replaced by their computed arrays (env: id -> array)."""
    from .graph import Value
    if isinstance(a, Value):
        return env[id(a)]
    if isinstance(a, list):
        return [resolve_value(v, env) for v in a]
    if isinstance(a, tuple):
        return tuple(resolve_value(v, env) for v in a)
    return a


def _channel_affine(y, scale, shift):
    """y * scale + shift per channel (dim 1), in float32: an unfolded BatchNorm."""
    from .. import ops
    if type(y).__module__ == "cnnnative._cuda" or not isinstance(y, np.ndarray):
        zeros, ones = np.zeros(len(scale), np.float32), np.ones(len(scale), np.float32)
        return ops.batch_norm(y, zeros, ones, np.float32(scale), np.float32(shift), eps=0.0)
    shape = (1, -1) + (1,) * (y.ndim - 2)
    return (y * np.asarray(scale, np.float32).reshape(shape) + np.asarray(shift, np.float32).reshape(shape)
            ).astype(np.float32, copy=False)


def apply_epilogue(y, epilogue, env):
    """The fused steps of a node (see OpGraph), run as separate ops."""
    from .. import ops
    for step in epilogue:
        kind = step[0]
        if kind == "scale_shift":
            y = _channel_affine(y, step[1], step[2])
        elif kind == "add":
            y = ops.add(y, env[id(step[1])])
        else:
            y = apply_activation_step(y, step)
    return y


def apply_activation_step(y, step):
    """An activation epilogue step (ir.fuse.activation_step) run as its op."""
    from .. import ops
    kind = step[0]
    if kind in ("relu", "relu6", "silu", "hardswish", "gelu", "sigmoid", "hardsigmoid"):
        return getattr(ops, kind)(y)
    if kind == "gelu_tanh":
        return ops.gelu(y, approximate="tanh")
    if kind == "prelu":
        return ops.prelu(y, step[1])
    raise AssertionError(kind)  # pragma: no cover - the rewrites only make the steps above


def run_node(node, env):
    """Run one node reading its inputs from env (id(value) -> data); returns its result."""
    args = {k: resolve_value(a, env) for k, a in node.args.items()}
    if node.op == "module":
        y = node.module(*args.values())
    else:
        y = call_op(node.op, args)
    if node.epilogue:
        y = apply_epilogue(y, node.epilogue, env)
    return y


def run(graph, inputs, stats=None):
    """Run `graph` on `inputs` (one per graph input); returns the list of outputs.
    stats (a dict), if given, receives "peak_live": the most values held at once."""
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph takes {len(graph.inputs)} input(s), got {len(inputs)}")
    env = {id(v): x for v, x in zip(graph.inputs, inputs)}
    last = graph.last_uses()
    keep = {id(v) for v in graph.outputs}
    peak = live = len(env)
    for i, node in enumerate(graph.nodes):
        y = run_node(node, env)
        outs = node.outputs
        if len(outs) == 1:
            env[id(outs[0])] = y
        else:
            for v, part in zip(outs, y):
                env[id(v)] = part
        live += len(outs)
        peak = max(peak, live)
        for v in node.inputs:  # free what no later node reads
            if last.get(id(v)) == i and id(v) not in keep:
                del env[id(v)]
                live -= 1
        for v in outs:  # outputs nobody reads (e.g. a split's unused part)
            if id(v) not in last and id(v) in env:
                del env[id(v)]
                live -= 1
    if stats is not None:
        stats["peak_live"] = peak
    return [env[id(v)] for v in graph.outputs]
