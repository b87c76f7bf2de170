"""Reverse-mode automatic differentiation: grad mode, the recorded graph and its walk.

This file knows nothing about any particular op. An op (in `cnnnative.ops`) that is called
with a `Tensor` requiring a gradient computes its output with the plain numpy function and
calls `record(out, parents, backward)`: the output Tensor then points at a `Node` holding
`backward`, a closure over the arrays the op saved. `Tensor.backward()` (or `grad()`) visits
the nodes reachable from the output in reverse topological order, calls each closure once
with the sum of the gradients that reached it, and hands the results to the parents; leaves
(parameters, user tensors) accumulate into `.grad`.

A leaf may carry hooks (`Tensor.register_post_accumulate_grad_hook`): the walk calls them
once the last node that can add to that leaf's `.grad` has run, and `queue_callback(fn)`
runs fn when the walk ends -- what data-parallel training uses to reduce gradients while
backward is still running. With no hook registered the walk does no extra work.

The graph lives only as long as its output: nodes hold their parents, nothing holds a node
but the tensors it produced, and a walk drops each closure after calling it (unless
`retain_graph=True`), so one training step never keeps the previous step's arrays alive.
"""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable, TypeVar

import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad", "backward",
           "record", "wants", "array_of", "unbroadcast", "Node", "queue_callback"]

class _ThreadState(threading.local):
    disabled = False  # inside no_grad()
    walk = None       # the backward walk running in this thread, if any
    tracer = None     # compile()'s op collector while it traces, if any


_state = _ThreadState()


# -- grad mode ------------------------------------------------------------------------------

def is_grad_enabled() -> bool:
    """False inside `no_grad()`: ops then record nothing."""
    return not _state.disabled


class set_grad_enabled:
    """Context manager (and decorator) that switches recording on or off in this thread."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _state.disabled = not self.mode  # usable as a plain call too, like torch's

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> bool:
        _state.disabled = not self.prev
        return False

    def __call__(self, function: _F) -> _F:
        import functools
        mode = self.mode
        _state.disabled = not self.prev  # the decorator form must not change the mode now

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return function(*args, **kwargs)
        return wrapper


class no_grad(set_grad_enabled):
    """`with cn.no_grad(): ...` (or `@cn.no_grad()`): ops record nothing, outputs do not
    require grad. Inference, evaluation and weight surgery run here."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Recording back on inside a `no_grad` block."""

    def __init__(self) -> None:
        super().__init__(True)


# -- recording ------------------------------------------------------------------------------

class Node:
    """One recorded op call: `backward(g)` -> one gradient per parent (or None)."""

    __slots__ = ("backward", "parents", "n_outputs", "name", "__weakref__")

    def __init__(self, backward, parents, n_outputs, name) -> None:
        self.backward, self.parents, self.n_outputs, self.name = backward, parents, n_outputs, name

    def __repr__(self):
        return f"<{self.name or 'op'}Backward>"


def array_of(x):
    """A Tensor's array; anything else unchanged (None, arrays, numbers)."""
    return x.data if isinstance(x, Tensor) else x


def wants(x) -> bool:
    """Inside a backward closure: does this walk need the gradient of `x`?

    False for plain arrays, numbers, None, tensors that do not require grad (frozen
    parameters) and, under `grad(outputs, inputs)`, tensors off every path to `inputs`;
    ops skip that work, so a frozen layer costs nothing in backward."""
    if not isinstance(x, Tensor) or not x.requires_grad:
        return False
    walk = _state.walk
    if walk is None or walk.needed is None:
        return True
    return id(x) in walk.targets or (x._node is not None and id(x._node) in walk.needed)


def record(out, parents, backward, name=None):
    """Wrap an op's output array(s) into Tensor(s) that remember how to go backward.

    parents: the op's arguments in the order backward returns their gradients (anything
    that is not a Tensor requiring grad is ignored). backward(g) gets the output's gradient
    (a list with None for outputs no gradient reached, for a multi-output op)."""
    kept = tuple([p if isinstance(p, Tensor) and p.requires_grad else None for p in parents])
    if type(out) is tuple or type(out) is list:
        node = Node(backward, kept, len(out), name)
        return tuple(_from_op(o, node, i) for i, o in enumerate(out))
    return _from_op(out, Node(backward, kept, 1, name), 0)


def unbroadcast(g, shape):
    """Sum a gradient of a broadcast result back to an input's `shape` (NumPy rules)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True, dtype=np.float32)
    return np.require(g.reshape(shape), np.float32, "C")  # (ascontiguousarray makes 0-d 1-D)


Tensor = None    # set by tensor.py when it is imported (it imports this module first)
_from_op = None  # Tensor._from_op, likewise


# -- the walk -------------------------------------------------------------------------------

def _topological(roots):
    """Nodes reachable from `roots`, each after every node that consumes its outputs."""
    order, seen = [], set()
    for root in roots:
        if root is None or id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.parents))]
        while stack:
            node, parents = stack[-1]
            for p in parents:
                child = p._node if p is not None else None
                if child is not None and id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.parents)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


class _Walk:
    """What one backward pass needs to know: which gradients are wanted and where leaf
    gradients go (`.grad`, or the result of grad())."""

    def __init__(self, order, targets) -> None:
        self.targets = targets  # None, or {id(tensor): tensor} asked for by grad()
        self.needed = None if targets is None else _needed(order, targets)
        self.callbacks = []     # queue_callback(): run once when a backward() walk ends


# -- leaf hooks -------------------------------------------------------------------------------
# {id(leaf): (weakref to the leaf, {handle id: fn})}: the leaves with a hook registered by
# Tensor.register_post_accumulate_grad_hook. Empty (the usual case): the walk skips all of it.
_leaf_hooks: dict = {}


class RemovableHandle:
    """What register_post_accumulate_grad_hook returns: `handle.remove()` unregisters."""

    _next = 0

    def __init__(self, leaf_id):
        RemovableHandle._next += 1
        self.id, self.leaf_id = RemovableHandle._next, leaf_id

    def remove(self) -> None:
        entry = _leaf_hooks.get(self.leaf_id)
        if entry is not None:
            entry[1].pop(self.id, None)
            if not entry[1]:
                del _leaf_hooks[self.leaf_id]


def _forget_leaf(hooks, key, ref):
    # hooks is bound at registration: at interpreter exit the module globals may be gone.
    entry = hooks.get(key)
    if entry is not None and entry[0] is ref:
        del hooks[key]


def add_leaf_hook(t, fn) -> RemovableHandle:
    """Tensor.register_post_accumulate_grad_hook's work (see its docstring)."""
    if not callable(fn):
        raise TypeError(f"register_post_accumulate_grad_hook: hook must be callable, got {type(fn).__name__}")
    if not t.is_leaf:
        raise RuntimeError("register_post_accumulate_grad_hook: only a leaf tensor (a parameter, or "
                           "a tensor created with requires_grad=True) accumulates into .grad")
    key = id(t)
    entry = _leaf_hooks.get(key)
    if entry is None or entry[0]() is not t:
        # Forget the hooks when the leaf dies (its id may then be reused by another object).
        ref = weakref.ref(t, functools.partial(_forget_leaf, _leaf_hooks, key))
        entry = _leaf_hooks[key] = (ref, {})
    handle = RemovableHandle(key)
    entry[1][handle.id] = fn
    return handle


def _hook_schedule(order, seeds):
    """{position in order (-1: the seeds): [leaves whose last contribution comes there]} for
    the hooked leaves this walk reaches: after that node ran, the leaf's .grad is final."""
    last = {}
    for t, _ in seeds:
        if t._node is None and id(t) in _leaf_hooks:
            last[id(t)] = (-1, t)
    for i, node in enumerate(order):
        for p in node.parents:
            if p is not None and p._node is None and id(p) in _leaf_hooks:
                last[id(p)] = (i, p)
    schedule = {}
    for i, leaf in last.values():
        schedule.setdefault(i, []).append(leaf)
    return schedule


def _fire(leaves, touched):
    for leaf in leaves:
        if id(leaf) in touched:  # it got a gradient in this walk (wants() may have skipped it)
            entry = _leaf_hooks.get(id(leaf))
            for fn in list(entry[1].values()) if entry is not None else ():
                fn(leaf)


def queue_callback(fn) -> None:
    """From inside a backward walk (e.g. a gradient hook): call fn() once when this
    `backward()` has finished, after every leaf's .grad is final (PyTorch's
    Variable._execution_engine.queue_callback). RuntimeError outside a walk."""
    walk = _state.walk
    if walk is None:
        raise RuntimeError("queue_callback: no backward pass is running")
    walk.callbacks.append(fn)


def _needed(order, targets):
    """ids of the nodes on some path from the outputs to a target."""
    needed = set()
    for node in reversed(order):  # parents before consumers
        for p in node.parents:
            if p is not None and (id(p) in targets or (p._node is not None and id(p._node) in needed)):
                needed.add(id(node))
                break
    return needed


def _as_grad(gradient, t, what):
    """A user-given output gradient as a float32 array of t's shape (copied: the walk may
    hand it to a leaf's .grad, which optimizers modify in place)."""
    if isinstance(gradient, Tensor):
        gradient = gradient.data
    if type(gradient).__module__ == "cnnnative._cuda":
        if tuple(gradient.shape) != tuple(t.shape):
            raise ValueError(f"{what}: gradient has shape {tuple(gradient.shape)}, the output {tuple(t.shape)}")
        return gradient
    g = np.array(gradient, dtype=np.float32, copy=True)
    if g.shape != tuple(t.shape):
        if g.size == 1 and t.data.size == 1:
            return g.reshape(t.shape)
        raise ValueError(f"{what}: gradient has shape {g.shape}, the output {tuple(t.shape)}")
    return g


def _ones_like(t):
    if type(t.data).__module__ == "cnnnative._cuda":
        from . import cuda
        return cuda.from_numpy(np.ones(tuple(t.shape), np.float32), device=t.data.device)
    return np.ones(t.data.shape, np.float32)


def _run(outputs, grad_outputs, targets, retain_graph, what):
    """The backward walk. Returns {id(target): gradient} for `targets`, or None."""
    seeds = []
    for t, g in zip(outputs, grad_outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: outputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"{what}: the output does not require grad (computed under no_grad, "
                               "or from nothing that requires grad)")
        seeds.append((t, _ones_like(t) if g is None else _as_grad(g, t, what)))
    order = _topological([t._node for t, _ in seeds])
    walk = _Walk(order, targets)
    pending = {}
    results = {} if targets is not None else None
    given = set()  # ids of arrays already stored as some leaf's .grad in this walk
    # Post-accumulate hooks (backward() only: grad() fills no .grad): each hooked leaf's fire
    # after the last node that can add to it, so a parameter used twice is seen once, final.
    schedule = _hook_schedule(order, seeds) if _leaf_hooks and targets is None else None
    touched = set()

    def to_leaf(t, g):
        if schedule is not None:
            touched.add(id(t))
        if t.grad is None:
            if id(g) in given or (isinstance(g, np.ndarray) and not g.flags.writeable):
                g = g.copy()  # one array reached two leaves (a + a, broadcasts): own one each
            given.add(id(g))
            if isinstance(g, np.ndarray) and g.dtype != np.float32:
                g = g.astype(np.float32)
            t.grad = g
        else:
            t.grad = t.grad + g

    def send(t, g):
        if results is not None:
            if id(t) in targets:
                prev = results.get(id(t))
                results[id(t)] = g if prev is None else prev + g
            if t._node is None or id(t._node) not in walk.needed:
                return  # grad(): leaves keep their .grad; nothing further upstream is asked for
        elif t._node is None:
            to_leaf(t, g)
            return
        slots = pending.get(id(t._node))
        if slots is None:
            slots = pending[id(t._node)] = [None] * t._node.n_outputs
        slots[t._index] = g if slots[t._index] is None else slots[t._index] + g

    for t, g in seeds:
        send(t, g)
    previous, _state.walk = _state.walk, walk
    try:
        if schedule is not None and -1 in schedule:
            _fire(schedule[-1], touched)
        for i, node in enumerate(order):
            slots = pending.pop(id(node), None)
            if slots is None:
                if schedule is not None and i in schedule:
                    _fire(schedule[i], touched)
                continue
            backward = node.backward
            if backward is None:
                raise RuntimeError(f"{what}: trying to go backward through {node!r} a second time "
                                   "(its saved arrays were freed); pass retain_graph=True to the "
                                   "first backward if you need two")
            grads = backward(slots[0] if node.n_outputs == 1 else slots)
            if not retain_graph:
                node.backward = None
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) != len(node.parents):
                raise RuntimeError(f"{node!r} returned {len(grads)} gradients for "
                                   f"{len(node.parents)} inputs")
            for p, g in zip(node.parents, grads):
                if p is not None and g is not None and wants(p):
                    send(p, g)
            # Hold no gradient beyond its slot: an op may then reuse a gradient array only
            # its own slot refers to (ops/_private.py), and memory is freed as early as it can be.
            grads = slots = g = None
            if schedule is not None and i in schedule:
                _fire(schedule[i], touched)
        for fn in walk.callbacks:  # may queue more (a callback's own callbacks run too)
            fn()
    finally:
        _state.walk = previous
    return results


def _as_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _output_gradients(outputs, given, what):
    """One gradient (or None = ones) per output; None only for one-element outputs."""
    grads = [None] * len(outputs) if given is None else _as_list(given)
    if len(grads) != len(outputs):
        raise ValueError(f"{what}: {len(outputs)} outputs but {len(grads)} gradients")
    for t, g in zip(outputs, grads):
        if g is None and isinstance(t, Tensor) and t.data.size != 1:
            raise RuntimeError(f"{what}: the output has shape {tuple(t.shape)}; a gradient is implicit "
                               "only for a scalar output (pass gradient= / grad_outputs=)")
    return grads


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulate d(sum of tensors)/d(leaf) into every leaf's .grad (torch.autograd.backward).
    grad_tensors: one output gradient per tensor (None = ones; scalar outputs only)."""
    tensors = _as_list(tensors)
    _run(tensors, _output_gradients(tensors, grad_tensors, "backward"), None, retain_graph, "backward")


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs` (torch.autograd.grad): a tuple of
    arrays, one per input. Nothing is accumulated into any `.grad` (parameters of the model
    keep theirs), and work off the paths to `inputs` (weight gradients) is skipped.

    This is how input gradients (saliency maps, adversarial examples) are taken: set
    `model.eval()` so BatchNorm uses (and does not update) its running statistics."""
    outputs = _as_list(outputs)
    inputs_list = _as_list(inputs)
    for i, x in enumerate(inputs_list):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise ValueError(f"grad: inputs[{i}] must be a Tensor with requires_grad=True")
    grads = _output_gradients(outputs, grad_outputs, "grad")
    targets = {id(x): x for x in inputs_list}
    results = _run(outputs, grads, targets, retain_graph, "grad")
    out = []
    for i, x in enumerate(inputs_list):
        g = results.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: inputs[{i}] was not used to compute the outputs "
                                   "(pass allow_unused=True to get None)")
        out.append(g)
    return tuple(out)
