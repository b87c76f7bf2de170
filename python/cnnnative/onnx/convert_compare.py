"""Comparisons and logic on values known at load: Equal, Greater, Less, GreaterOrEqual,
LessOrEqual, Not, And, Or, Xor, Where. Exporters use them for shape logic (torch's
guard ``If(Equal(Gather(Shape(x), 2), 1))``), which folds once the input shape is known.
On run-time values they are refused: a boolean tensor has no place in a float graph."""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import ShapeTensor


def _known(ctx, i, what):
    v = ctx.input(i)
    if isinstance(v, ShapeTensor) and v.known:
        return v.array()
    if isinstance(v, np.ndarray):
        return v
    ctx.fail(f"input {i} ({what}) must be known at load; comparisons on run-time values are not supported")


def _binary(op_type, fn, since=7):
    @converter(op_type, since=since)
    def convert(ctx):
        return np.asarray(fn(_known(ctx, 0, "A"), _known(ctx, 1, "B")))
    return convert


for _op, _fn in (("Equal", np.equal), ("Greater", np.greater), ("Less", np.less),
                 ("GreaterOrEqual", np.greater_equal), ("LessOrEqual", np.less_equal),
                 ("And", np.logical_and), ("Or", np.logical_or), ("Xor", np.logical_xor)):
    _binary(_op, _fn, since=12 if _op.endswith("OrEqual") else 7)


@converter("Not")
def _not(ctx):
    return np.asarray(np.logical_not(_known(ctx, 0, "X")))


@converter("Where", since=9)
def _where(ctx):
    cond = _known(ctx, 0, "condition").astype(bool)
    return np.asarray(np.where(cond, _known(ctx, 1, "X"), _known(ctx, 2, "Y")))
