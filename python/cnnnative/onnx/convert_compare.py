"""Equal and Where, on what is known at load: exporters use them in shape logic (torch
guards a reshape with ``If(Equal(Gather(Shape(x), 1), k))`` and writes ``Where(Equal(s,
-1), ones, s)`` for expand), never on the data. Constants fold with numpy; ShapeTensors
compare entry by entry (the batch equals itself; the batch against a number is unknown
at load, which fails saying so)."""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import BATCH, ShapeTensor, is_graph_value
from .convert_shape import shape_result


def _known(ctx, i, what):
    """Input i as a numpy array; a ShapeTensor's entries as an object array (ints, BATCH)."""
    v = ctx.input(i)
    if is_graph_value(v):
        ctx.fail(f"input {i} ({what}) is computed at run time; {ctx.node.op_type} is supported only on values "
                 "known at load (shape logic)")
    if isinstance(v, ShapeTensor):
        return np.array(v.entries, dtype=object).reshape(v.shape)
    return v


def _symbolic(a):
    return a.dtype == object


@converter("Equal", since=1)
def _equal(ctx):
    a, b = _known(ctx, 0, "A"), _known(ctx, 1, "B")
    if not (_symbolic(a) or _symbolic(b)):
        return np.equal(a, b)
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        ctx.fail(f"shapes {a.shape} and {b.shape} do not broadcast")
    out = np.empty(a.shape, bool)
    for k, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
        if (x is BATCH) != (y is BATCH):
            ctx.fail("compares the batch size, which is known only at run time, with a number")
        out.flat[k] = True if x is BATCH else int(x) == int(y)
    return out


@converter("Where", since=9)
def _where(ctx):
    cond, a, b = _known(ctx, 0, "condition"), _known(ctx, 1, "X"), _known(ctx, 2, "Y")
    if cond.dtype != bool:
        ctx.fail(f"the condition must be a bool tensor, got {cond.dtype}")
    if not (_symbolic(a) or _symbolic(b)):
        return np.where(cond, a, b)
    for v in (a, b):
        if not _symbolic(v) and v.dtype.kind not in "iu":
            ctx.fail(f"cannot mix a {v.dtype} constant with a shape computed from the batch size")
    try:
        out = np.where(cond, a, b)
    except ValueError:
        ctx.fail(f"shapes {cond.shape}, {a.shape} and {b.shape} do not broadcast")
    if out.ndim > 1:
        ctx.fail(f"a {out.ndim}-D result holding the batch size is not supported")
    return shape_result([e if e is BATCH else int(e) for e in out.ravel()], out.shape)
