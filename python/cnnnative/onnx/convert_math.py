"""Converters for element-wise math: Add, Sub, Mul, Div, Pow, the variadic Sum, Mean, Max,
Min, the unary Exp, Log, Sqrt, Abs, Neg, Reciprocal (Floor, Ceil, Sign on constants), and
the Cast / CastLike glue.

Three kinds of operands meet here:
- constants only: folded with numpy at load, keeping ONNX's dtype (int64 shape arithmetic
  stays int64, integer Div truncates toward zero as ONNX does);
- a graph value (batched, float32) with constants or other graph values: a
  `cnnnative.ops` call with NumPy broadcasting. The batch must stay the first dim of the
  result, so a constant may not reach past the value's rank nor span the batch axis;
- a ShapeTensor (a shape that holds the batch size): its known entries are computed,
  and the batch entry survives only an identity (N * 1, N + 0, N / 1).

Opset versions that only widened the accepted types are not separate entries: their
float32 meaning did not change. (The legacy `broadcast` attribute of opsets before 7 never
reaches a converter: _read.py raises such models to opset 7 first.)
"""
from __future__ import annotations

import numpy as np

from ._registry import converter
from ._values import BATCH, ShapeTensor, is_constant, is_graph_value

# -- operands -----------------------------------------------------------------------------------


def _operand(ctx, i):
    """Input i; a ShapeTensor with no batch entry is just an int64 constant."""
    v = ctx.input(i)
    if isinstance(v, ShapeTensor) and v.known:
        return v.array()
    return v


def _shown(shape):
    return tuple("N" if d is None else d for d in shape)


def _check_batch_stays_first(ctx, values):
    """Every graph value has the same rank R (its dim 0 is the batch) and no constant has
    more than R dims or a non-1 size on the batch axis: otherwise ONNX's result would move
    or mix the batch."""
    shapes = [ctx.shape(v) for v in values if is_graph_value(v)]
    if len({len(s) for s in shapes}) > 1:
        ctx.fail(f"run-time inputs of different ranks ({', '.join(str(_shown(s)) for s in shapes)}) would "
                 "broadcast the batch against another dim")
    rank = len(shapes[0])
    for v in values:
        if is_constant(v) and (v.ndim > rank or (v.ndim == rank and v.shape[0] != 1)):
            ctx.fail(f"a constant of shape {v.shape} broadcast against a run-time input of shape "
                     f"{_shown(shapes[0])} would span the batch dim")


def _as_float(v):
    """A constant meeting a float32 graph value becomes float32 (a per-channel constant stays
    an array the engine can fold into the conv before it)."""
    return np.asarray(v, dtype=np.float32) if is_constant(v) else v


# -- folding constants, ONNX-exact ------------------------------------------------------------


def _integer_div(a, b):
    """ONNX integer Div truncates toward zero (C's rule), numpy's // floors."""
    if np.any(b == 0):
        raise ValueError("integer division by zero in a constant subgraph")
    q = a // b
    return q + ((q < 0) & (q * b != a)).astype(q.dtype)


def _fold_div(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):
        return _integer_div(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


def _fold_pow(a, b):
    # ONNX: the result has the base's type (float32 ** int64 is float32, not numpy's float64)
    if np.issubdtype(a.dtype, np.integer) and np.any(b < 0):
        raise ValueError("integer Pow with a negative exponent in a constant subgraph")
    with np.errstate(all="ignore"):
        return np.power(a, b).astype(a.dtype, copy=False)


def _fold(fn, *values):
    """fn on constants, with ONNX's result type (numpy would widen float32 ** int64)."""
    values = [np.asarray(v) for v in values]
    dtype = values[0].dtype if fn is _fold_pow else np.result_type(*values)
    return np.asarray(fn(*values)).astype(dtype, copy=False)


# -- the batch entry of a ShapeTensor -----------------------------------------------------------

_IDENTITY = {"add": (0, 0), "sub": (None, 0), "mul": (1, 1), "div": (None, 1)}


def _shape_arithmetic(ctx, opname, fold_fn, a, b):
    """a op b where one is a ShapeTensor holding the batch: its known entries are computed,
    the batch entry survives only an identity (N * 1, N + 0, N - 0, N / 1)."""
    def entries(v):
        if isinstance(v, ShapeTensor):
            return list(v.entries)
        if is_constant(v) and v.ndim <= 1:
            return [int(e) for e in np.ravel(v)]
        ctx.fail(f"{opname} of a shape holding the batch size with a {type(v).__name__} is not supported")
    ea, eb = entries(a), entries(b)
    if len(ea) != len(eb) and 1 not in (len(ea), len(eb)):
        ctx.fail(f"shape arithmetic on vectors of lengths {len(ea)} and {len(eb)}")
    n = max(len(ea), len(eb))
    ea, eb = ea * n if len(ea) == 1 else ea, eb * n if len(eb) == 1 else eb
    left_id, right_id = _IDENTITY.get(opname, (None, None))
    out = []
    for x, y in zip(ea, eb):
        if x is BATCH and y is BATCH:
            ctx.fail(f"{opname} of the batch size with itself cannot be computed at load")
        if x is BATCH or y is BATCH:
            other, identity = (y, right_id) if x is BATCH else (x, left_id)
            if identity is None or other != identity:
                ctx.fail(f"{opname} of the batch size with {other}: a shape computed from the batch size "
                         "is not supported (the batch stays dynamic)")
            out.append(BATCH)
        else:
            out.append(int(fold_fn(np.int64(x), np.int64(y))))
    # two 0-d operands (Gather of one dim, a scalar constant) give a 0-d result
    scalar = all(v.scalar if isinstance(v, ShapeTensor) else np.ndim(v) == 0 for v in (a, b))
    return ShapeTensor(out, scalar=scalar)


# -- binary ops ----------------------------------------------------------------------------------


def binary(ctx, opname, fold_fn, a, b):
    """a op b for any mix of graph values, constants and ShapeTensors."""
    if isinstance(a, ShapeTensor) or isinstance(b, ShapeTensor):
        if is_graph_value(a) or is_graph_value(b):
            ctx.fail(f"{opname} of a shape with a run-time tensor")
        return _shape_arithmetic(ctx, opname, fold_fn, a, b)
    if is_constant(a) and is_constant(b):
        return _fold(fold_fn, a, b)
    _check_batch_stays_first(ctx, [a, b])
    return ctx.op(opname, _as_float(a), _as_float(b))


def _binary_converter(op_type, opname, fold_fn):
    @converter(op_type)
    def convert(ctx):
        return binary(ctx, opname, fold_fn, _operand(ctx, 0), _operand(ctx, 1))
    return convert


_binary_converter("Add", "add", np.add)
_binary_converter("Sub", "sub", np.subtract)


def channel_gate(ctx, a, b):
    """(x, gate) when a * b is a per-channel gate of run-time values -- x (N, C, H, ...) times
    a gate (N, C, 1, ...), the squeeze-and-excitation product however the exporter spelled
    the block -- else None. It becomes the engine's `channel_scale` instead of a broadcast."""
    if not (is_graph_value(a) and is_graph_value(b)):
        return None
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sa) != len(sb) or len(sa) < 2:
        return None
    for x, gate in ((sa, sb), (sb, sa)):
        if gate[0] == x[0] and all(d == 1 for d in gate[1:]) and any(d != 1 for d in x[1:]):
            return (a, b) if x is sa else (b, a)
    return None


@converter("Mul")
def _mul(ctx):
    a, b = _operand(ctx, 0), _operand(ctx, 1)
    gated = channel_gate(ctx, a, b)
    if gated is not None:
        return ctx.op("channel_scale", *gated)
    return binary(ctx, "mul", np.multiply, a, b)


_binary_converter("Div", "div", _fold_div)
_binary_converter("Pow", "pow", _fold_pow)


# -- variadic ops ----------------------------------------------------------------------------------


def _variadic(ctx, opname, fold_fn):
    values = [_operand(ctx, i) for i in range(ctx.n_inputs) if ctx.has_input(i)]
    if not values:
        ctx.fail("needs at least one input")
    if any(isinstance(v, ShapeTensor) for v in values):
        ctx.fail("a shape holding the batch size is not supported here")
    constants = [v for v in values if is_constant(v)]
    graph_values = [v for v in values if is_graph_value(v)]
    if graph_values:
        _check_batch_stays_first(ctx, values)
    # constants first, folded into one (the order of an associative op does not matter)
    acc = None
    for c in constants:
        acc = c if acc is None else _fold(fold_fn, acc, c)
    for v in graph_values:
        acc = v if acc is None else ctx.op(opname, _as_float(acc), v)
    return acc


@converter("Sum")
def _sum(ctx):
    return _variadic(ctx, "add", np.add)


@converter("Max")
def _max(ctx):
    return _variadic(ctx, "maximum", np.maximum)


@converter("Min")
def _min(ctx):
    return _variadic(ctx, "minimum", np.minimum)


@converter("Mean")
def _mean(ctx):
    total = _variadic(ctx, "add", np.add)
    n = sum(1 for i in range(ctx.n_inputs) if ctx.has_input(i))
    if is_constant(total):
        return (total / n).astype(total.dtype, copy=False)
    return total if n == 1 else ctx.op("div", total, np.float32(n))


# -- unary ops -------------------------------------------------------------------------------------


def _unary_converter(op_type, opname, fold_fn):
    """A unary op: folded with numpy (dtype kept) on constants, `ops.<opname>` on graph values
    (opname None: constants only)."""
    @converter(op_type)
    def convert(ctx):
        x = _operand(ctx, 0)
        if is_constant(x):
            with np.errstate(all="ignore"):
                return np.asarray(fold_fn(x)).astype(x.dtype, copy=False)
        if isinstance(x, ShapeTensor):
            ctx.fail("a shape holding the batch size is not supported here")
        if opname is None:
            ctx.fail(f"{op_type} of a run-time tensor is not supported (only of constants, folded at load)")
        return ctx.op(opname, x)
    return convert


_unary_converter("Exp", "exp", np.exp)
_unary_converter("Log", "log", np.log)
_unary_converter("Sqrt", "sqrt", np.sqrt)
_unary_converter("Abs", "abs", np.abs)
_unary_converter("Neg", "neg", np.negative)
_unary_converter("Floor", None, np.floor)
_unary_converter("Ceil", None, np.ceil)
_unary_converter("Sign", None, np.sign)


@converter("Reciprocal")
def _reciprocal(ctx):
    x = _operand(ctx, 0)
    if is_constant(x):
        with np.errstate(divide="ignore"):
            return np.asarray(np.reciprocal(x.astype(np.float32) if x.dtype.kind != "f" else x))
    return ctx.op("div", np.float32(1.0), ctx.graph_input(0, "X"))


# -- Cast ---------------------------------------------------------------------------------------------


def _numpy_dtype(ctx, to):
    try:
        from onnx import helper
        return np.dtype(helper.tensor_dtype_to_np_dtype(to))
    except (KeyError, TypeError, ValueError):
        ctx.fail(f"cannot cast to ONNX type {to}")


def cast(ctx, x, to):
    from onnx import TensorProto
    dtype = _numpy_dtype(ctx, to)
    name = TensorProto.DataType.Name(to)
    if is_constant(x):
        if x.dtype.kind == "f" and dtype.kind in "iu":
            # float -> int truncates toward zero; NaN or out-of-range values have no answer
            if not np.all(np.isfinite(x)):
                ctx.fail(f"casting a constant holding inf or NaN to {name}")
        return x.astype(dtype)
    if isinstance(x, ShapeTensor):
        if dtype.kind in "iu":
            return x
        if x.known:
            return x.array().astype(dtype)
        ctx.fail(f"casting a shape that holds the batch size to {name}")
    if dtype == np.float32:
        return x  # the run-time tensors are float32 already
    ctx.fail(f"casting a run-time tensor to {name}: only float32 tensors flow through the graph")


@converter("Cast", since=6)
def _cast(ctx):
    if not ctx.has_attr("to"):
        ctx.fail("missing attribute 'to'")
    return cast(ctx, ctx.input(0), int(ctx.attr("to")))


@converter("CastLike", since=15)
def _cast_like(ctx):
    from onnx import helper
    target = ctx.input(1)
    if is_graph_value(target):
        dtype = np.dtype(np.float32)
    elif isinstance(target, ShapeTensor):
        dtype = np.dtype(np.int64)
    else:
        dtype = np.asarray(target).dtype
    return cast(ctx, ctx.input(0), helper.np_dtype_to_tensor_dtype(dtype))
