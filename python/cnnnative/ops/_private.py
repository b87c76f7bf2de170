"""Is an array private, so an op may overwrite it instead of allocating a new one?

The ReLU family runs in place where nobody can see it (PyTorch's `relu_` and its in-place
backward): overwriting a 6 MB activation or gradient instead of allocating a fresh one saves
a pass over memory per step. Autograd makes this decidable: recorded backward closures
keep *arrays* (never Tensors), and the walk hands each gradient to one closure. So

- a Tensor's array that only the Tensor refers to was saved by no backward and is viewed
  by no other array: overwriting it changes only that Tensor (the in-place semantics the
  caller asked for with `out=input`);
- a gradient array that only the walk's own slot refers to reaches no other node, leaf or
  result: the closure receiving it may write its result into it.

References are counted as numpy counts them to elide temporaries (`a + b + c`). What a sole
holder's count is gets measured once on a Tensor and on the walk itself (calibrate()), so a
change in either can make a private array look shared (a lost optimisation), never a shared
one look private. Only plain, writeable, C-contiguous float32 arrays that own their memory
qualify, or the sole user of the object that does (the core's outputs are views of a
numpy buffer or of a capsule of its output cache; another view would share the memory).

The backward half rarely fires today: the walk keeps the previous node's results in local
variables while it calls the next node, so a gradient made just before counts as shared.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["tensor_array_is_private", "grad_is_private"]

_baseline = None  # reference counts a private array shows: (Tensor array, gradient)
_Capsule = type(__import__("datetime").datetime_CAPI)  # PyCapsule: owns the core's large outputs


def _plain_f32(a) -> bool:
    return (type(a) is np.ndarray and a.dtype == np.float32 and a.flags.c_contiguous
            and a.flags.writeable)


def _memory_is_its_own(a, refs) -> bool:
    """a owns its memory, or is the only array using the numpy buffer or capsule that owns
    it (the core's outputs are such views)."""
    if a.base is None:
        return True
    owner = type(a.base)
    return ((owner is np.ndarray and a.base.base is None) or owner is _Capsule) and _base_refs(a) <= refs


def _tensor_array_refs(t) -> int:
    a = t.data
    return sys.getrefcount(a)


def _grad_refs(g) -> int:
    return sys.getrefcount(g)


def _measure_grad(g) -> int:
    return _grad_refs(g)  # called as grad_is_private calls it: the same frames hold g


def _base_refs(a) -> int:
    return sys.getrefcount(a.base)


def calibrate():
    """Measure the reference counts of a private Tensor array, of a private gradient
    inside a backward closure and of a base array held only by its one view (run once,
    outside any walk)."""
    global _baseline
    if _baseline is not None:
        return _baseline
    from ..autograd import record
    from ..tensor import Tensor
    tensor_refs = _tensor_array_refs(Tensor._wrap(np.zeros(1, np.float32)))
    base_refs = _base_refs(np.zeros(4, np.float32).reshape(2, 2))
    # The fewest references a gradient can have inside a closure: `mid` receives a fresh
    # array made by `top`, after another node (`side`) ran in between, so no variable of
    # the walk still holds it -- only mid's own slot and the closure's frames. Anything
    # more (another slot, a result, a leaf's .grad, a variable the walk kept) counts as
    # shared.
    # Both orders of top's parents are tried and the smaller count kept, so the measure
    # does not depend on which of mid and side the walk visits first.
    seen = []
    for mid_first in (True, False):
        leaf = Tensor(np.zeros(1, np.float32), requires_grad=True)
        mid = record(np.zeros(1, np.float32), (leaf,), lambda g: (seen.append(_measure_grad(g)) or None,))
        side = record(np.zeros(1, np.float32), (leaf,), lambda g: (None,))
        top = record(np.zeros(1, np.float32), (mid, side) if mid_first else (side, mid),
                     lambda g: (np.ones(1, np.float32), np.ones(1, np.float32)))
        top.backward(np.ones(1, np.float32))
    _baseline = (tensor_refs, min(seen), base_refs)
    return _baseline


def tensor_array_is_private(t) -> bool:
    """t is an op's output (not a leaf) and nothing but t refers to its array."""
    if t._node is None or not _plain_f32(t.data):
        return False
    refs = calibrate()
    return _tensor_array_refs(t) <= refs[0] and _memory_is_its_own(t.data, refs[2])


def grad_is_private(g) -> bool:
    """Inside a backward closure: only the walk refers to this gradient array."""
    if _baseline is None or not _plain_f32(g):
        return False  # never calibrated: no recording version ran yet (cannot happen)
    return _grad_refs(g) <= _baseline[1] and _memory_is_its_own(g, _baseline[2])
