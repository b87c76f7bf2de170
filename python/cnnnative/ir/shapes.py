"""Shape inference for OpGraph nodes: one rule per op, keyed by the op's name.

A rule takes the op's own arguments by the op's own parameter names, with every graph
value replaced by a `Shaped` (it has `.shape`; None marks the dynamic batch dim) and
parameter arrays as they are, and returns the output shape (a list of shapes for an op
with several outputs). It raises ValueError with the sizes when the inputs do not fit.

An op without a rule is evaluated once on zero-filled inputs of batch 1 and its output
shapes read back (an output's first dim is the batch when the op read a batched value
and returned a first dim of 1) -- exact for any op, at the cost of one small call.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Shaped", "infer", "by_rule", "RULES", "broadcast"]

RULES: dict = {}


class Shaped:
    """Stands for a graph value in a shape rule: only its shape is known."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(shape)

    @property
    def ndim(self):
        return len(self.shape)


def rule(*names):
    def register(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return register


def _shaped(a):
    """An argument as a rule sees it: graph values (also inside lists) become Shaped."""
    from .graph import Value
    if isinstance(a, Value):
        return Shaped(a.shape)
    if isinstance(a, (list, tuple)):
        return type(a)(_shaped(v) for v in a)
    return a


def by_rule(op: str, args: dict):
    """Output shapes of `op` on `args` (a list) by its rule, or None for an op without one.
    A ValueError says why the arguments do not fit."""
    fn = RULES.get(op)
    if fn is None:
        return None
    out = fn(**{k: _shaped(a) for k, a in args.items()})
    return [tuple(o) for o in out] if isinstance(out, list) else [tuple(out)]


def infer(node) -> list:
    """Output shapes of `node` (a list, one per output)."""
    if node.op == "module":
        return [_module_shape(node)]
    shapes = by_rule(node.op, node.args)
    return _evaluate(node) if shapes is None else shapes


def _module_shape(node):
    (x,) = node.inputs
    if not x.batched:
        raise ValueError(f"a layer needs a batched input, got {x.shape}")
    try:
        return (None,) + tuple(node.module.output_shape(x.sample_shape))
    except NotImplementedError:
        pass  # a module without output_shape: run it once on one zero sample
    from ..autograd import no_grad
    module = node.module
    modes = [(m, m.training) for m in module.modules()]
    module.train(False)  # eval: no running statistics change
    try:
        with no_grad():
            y = module(np.zeros((1,) + x.sample_shape, np.float32))
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return (None,) + tuple(np.shape(y))[1:]


def _evaluate(node):
    from .execute import call_op
    from .graph import Value

    batched = False

    def concrete(a):
        nonlocal batched
        if isinstance(a, Value):
            batched |= a.batched
            return np.zeros(tuple(1 if d is None else d for d in a.shape), np.float32)
        if isinstance(a, list):
            return [concrete(v) for v in a]
        if isinstance(a, tuple):
            return tuple(concrete(v) for v in a)
        return a
    args = {k: concrete(a) for k, a in node.args.items()}
    out = call_op(node.op, args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    shapes = []
    for y in outs:
        s = tuple(np.shape(y))
        shapes.append((None,) + s[1:] if batched and s[:1] == (1,) else s)
    return shapes


# -- helpers -----------------------------------------------------------------------------------

def _dim(d, ndim, what="dim"):
    d = int(d)
    if not -ndim <= d < ndim:
        raise ValueError(f"{what}={d} is out of range for {ndim} dimensions")
    return d % ndim


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(i) for i in v)
    if len(v) == 1:
        return v[0], v[0]
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return v


def _pad4(v):
    if isinstance(v, str):
        raise ValueError(f"padding={v!r}: give explicit sizes")
    if isinstance(v, (int, np.integer)):
        return (int(v),) * 4
    v = tuple(int(i) for i in v)
    if len(v) == 2:
        return v[0], v[0], v[1], v[1]
    if len(v) == 4:
        return v
    raise ValueError(f"padding must be an int, a pair or 4 values, got {v!r}")


def broadcast(*shapes):
    """NumPy broadcasting of shapes that may hold None (the batch dim)."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ValueError("shapes " + ", ".join(str(tuple(s)) for s in shapes) + " do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


# -- rules -------------------------------------------------------------------------------------

@rule("relu", "relu6", "tanh", "sigmoid", "leaky_relu", "softmax", "log_softmax", "neg", "exp", "log",
      "abs", "sqrt", "local_response_norm")
def _same(*args, **kwargs):
    return (list(args) + list(kwargs.values()))[0].shape


@rule("dropout")
def _dropout(input, p=0.5, training=True, *, return_mask=False, **_):
    return [input.shape, input.shape] if return_mask else input.shape


@rule("batch_norm", "instance_norm", "group_norm", "layer_norm")
def _norm(input, *_args, **_kwargs):
    return input.shape  # parameter sizes are checked by the op (or the layer) itself


@rule("add_relu")
def _same_shapes(a, b, **_):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"add_relu needs equal shapes (no broadcasting), got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.shape


@rule("add", "sub", "mul", "div", "pow", "maximum", "minimum")
def _binary(*args, **kwargs):
    first, second = (list(args) + list(kwargs.values()))[:2]
    return broadcast(*(tuple(np.shape(v)) if not hasattr(v, "shape") else tuple(v.shape) for v in (first, second)))


@rule("conv2d")
def _conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, **_):
    x, w = input.shape, weight.shape
    if len(x) != 4:
        raise ValueError(f"conv2d needs a 4-D (N, C, H, W) input, got {len(x)}-D")
    if len(w) != 4:
        raise ValueError(f"conv2d weight must be (K, C/groups, R, S), got {tuple(w)}")
    groups = int(groups)
    if x[1] != w[1] * groups:
        raise ValueError(f"expected {w[1] * groups} channels (weight {tuple(w)}, groups {groups}), "
                         f"got {x[1]}")
    if bias is not None and tuple(bias.shape) != (w[0],):
        raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({w[0]},)")
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    top, bottom, left, right = _pad4(padding)
    oh = (x[2] + top + bottom - dh * (w[2] - 1) - 1) // sh + 1
    ow = (x[3] + left + right - dw * (w[3] - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {tuple(w[2:])} (dilation {(dh, dw)}) is larger than the padded input "
                         f"{(x[2] + top + bottom, x[3] + left + right)}")
    return (x[0], w[0], oh, ow)


@rule("linear")
def _linear(input, weight, bias=None, **_):
    x, w = input.shape, weight.shape
    if not x or x[-1] != w[1]:
        raise ValueError(f"linear expects {w[1]} input features (weight {tuple(w)}), got shape {x}")
    return tuple(x[:-1]) + (w[0],)


def _pool_out(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    if out < 1:  # with ceil_mode a window a little past the input still gives one output, as torch
        raise ValueError(f"window {k} (dilation {d}) is larger than the padded input {n + 2 * p}")
    return out


def _pool(input, kernel_size, stride, padding, dilation, ceil_mode):
    x = input.shape
    if len(x) != 4:
        raise ValueError(f"pooling needs a 4-D (N, C, H, W) input, got {len(x)}-D")
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ValueError(f"padding {p} must be at most half the kernel {k}")
    return (x[0], x[1], _pool_out(x[2], k[0], s[0], p[0], d[0], ceil_mode),
            _pool_out(x[3], k[1], s[1], p[1], d[1], ceil_mode))


@rule("max_pool2d")
def _max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
                **_):
    y = _pool(input, kernel_size, stride, padding, dilation, ceil_mode)
    return [y, y] if return_indices else y


@rule("avg_pool2d")
def _avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, **_):
    return _pool(input, kernel_size, stride, padding, 1, ceil_mode)


@rule("global_avg_pool2d")
def _global_avg_pool2d(input, **_):
    if len(input.shape) != 4:
        raise ValueError(f"global_avg_pool2d needs a 4-D (N, C, H, W) input, got {len(input.shape)}-D")
    return tuple(input.shape[:2]) + (1, 1)


def _numel(dims):
    return math.prod(dims)


@rule("flatten")
def _flatten(input, start_dim=0, end_dim=-1, **_):
    x = input.shape
    if not x:
        return (1,)
    a, b = _dim(start_dim, len(x), "start_dim"), _dim(end_dim, len(x), "end_dim")
    if a > b:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    middle = x[a:b + 1]
    if None in middle and len(middle) > 1:
        raise ValueError(f"flattening dims {a}..{b} of {x} would merge the batch dimension")
    return tuple(x[:a]) + (middle[0] if len(middle) == 1 else _numel(middle),) + tuple(x[b + 1:])


def _reshape_target(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(d) for d in shape)


@rule("reshape")
def _reshape(input, shape, **_):
    target = _reshape_target(shape if isinstance(shape, (tuple, list)) else (shape,))
    x = input.shape
    if x and x[0] is None:
        # The batch dim stays first: the target's first entry must be -1 (the batch).
        if not target or target[0] != -1:
            raise ValueError(f"reshape of a batched value to {target}: the first dim must be -1 (the batch)")
        rest, known = target[1:], _numel(x[1:])
        if -1 in rest:
            raise ValueError(f"reshape to {target}: only the batch dim may be -1")
        if _numel(rest) != known:
            raise ValueError(f"cannot reshape {x} (per sample {known} elements) to {target}")
        return (None,) + rest
    total = _numel(x)
    if target.count(-1) > 1:
        raise ValueError(f"reshape to {target}: at most one -1")
    if -1 in target:
        rest = _numel(d for d in target if d != -1)
        if rest == 0 or total % rest:
            raise ValueError(f"cannot reshape {x} to {target}")
        target = tuple(total // rest if d == -1 else d for d in target)
    if _numel(target) != total:
        raise ValueError(f"cannot reshape {x} ({total} elements) to {target}")
    return target


@rule("transpose")
def _transpose(input, dim0=0, dim1=1, **_):
    x = list(input.shape)
    a, b = _dim(dim0, len(x), "dim0"), _dim(dim1, len(x), "dim1")
    x[a], x[b] = x[b], x[a]
    return tuple(x)


@rule("permute")
def _permute(input, *dims, **kwargs):
    if not dims:
        dims = (kwargs.get("dims"),)
    dims = _reshape_target(dims)
    x = input.shape
    if sorted(_dim(d, len(x)) for d in dims) != list(range(len(x))):
        raise ValueError(f"permute dims {dims} are not a permutation of {len(x)} dimensions")
    return tuple(x[_dim(d, len(x))] for d in dims)


@rule("cat")
def _cat(tensors, dim=0, **_):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat needs at least one input")
    first = tensors[0].shape
    d = _dim(dim, len(first))
    for t in tensors[1:]:
        s = t.shape
        if len(s) != len(first) or any(s[i] != first[i] for i in range(len(s)) if i != d):
            raise ValueError(f"cat along dim {d}: all inputs must match except in that dim: "
                             + ", ".join(str(tuple(t.shape)) for t in tensors))
    sizes = [t.shape[d] for t in tensors]
    if None in sizes:
        raise ValueError("cat along the batch dimension is not supported (the batch is dynamic)")
    return tuple(first[:d]) + (sum(sizes),) + tuple(first[d + 1:])


@rule("split")
def _split(tensor=None, split_size_or_sections=None, dim=0, input=None, **_):
    x = (tensor if tensor is not None else input).shape
    d = _dim(dim, len(x))
    n = x[d]
    if n is None:
        raise ValueError("split along the batch dimension is not supported (the batch is dynamic)")
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split sections {sizes} do not add up to dim {d}'s size {n}")
    return [tuple(x[:d]) + (s,) + tuple(x[d + 1:]) for s in sizes]
