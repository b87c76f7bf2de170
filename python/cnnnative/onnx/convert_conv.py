"""Converters for the layers with weights: Conv, BatchNormalization, Gemm, and the pools
around them. Each becomes the library's own layer (nn.Conv2d, nn.BatchNorm2d,
nn.Linear, ...) holding the initializers as Parameters, so the engine's kernels and
fusions (BN folding, bias/activation epilogues) apply to imported models unchanged."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.module import Parameter
from ._registry import converter
from ._values import is_constant


def set_param(layer, name, value):
    """Give `layer` a Parameter `name` holding a float32 copy of `value` (shape checked)."""
    current = getattr(layer, name)
    value = np.ascontiguousarray(value, dtype=np.float32)
    if current is not None and tuple(current.shape) != value.shape:
        raise ValueError(f"{type(layer).__name__}.{name} expects shape {tuple(current.shape)}, "
                         f"the model gives {value.shape}")
    setattr(layer, name, Parameter(value.copy()))


def explicit_pads(ctx, spatial, kernel, strides, dilations):
    """(before..., after...) pads for the node, auto_pad resolved against the input's
    spatial sizes (SAME_UPPER puts the odd pixel after, SAME_LOWER before)."""
    # absurd windows (kernel 2**40, stride 0, huge pads) fail here, naming the node
    from ._validate import check_pads, check_window
    check_window(ctx, kernel, strides, dilations)
    pads = _resolved_pads(ctx, spatial, kernel, strides, dilations)
    check_pads(ctx, spatial, kernel, dilations, pads)
    return pads


def _resolved_pads(ctx, spatial, kernel, strides, dilations):
    k = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = ctx.ints("pads", (0,) * (2 * k))
        if len(pads) != 2 * k:
            ctx.fail(f"pads has {len(pads)} entries, expected {2 * k} for a {k}-D kernel")
        if min(pads) < 0:
            ctx.fail(f"pads must be non-negative, got {pads}")
        return pads
    if auto_pad == "VALID":
        return (0,) * (2 * k)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad {auto_pad!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    before, after = [], []
    for size, kk, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (kk - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        before.append(big if auto_pad == "SAME_LOWER" else small)
        after.append(small if auto_pad == "SAME_LOWER" else big)
    return tuple(before) + tuple(after)


@converter("Conv")
def _conv(ctx):
    x = ctx.graph_input(0, "X")
    w = ctx.const(1, "W")
    b = ctx.const(2, "B")
    shape = ctx.shape(x)
    k = w.ndim - 2
    if k != 2 or len(shape) != 4:
        ctx.fail(f"only 2-D convolutions are supported so far (input {shape}, weight {w.shape})")
    kernel = ctx.ints("kernel_shape", w.shape[2:], k)
    if tuple(kernel) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape {kernel} disagrees with the weight's {w.shape[2:]}")
    strides = ctx.ints("strides", (1,) * k, k)
    dilations = ctx.ints("dilations", (1,) * k, k)
    groups = int(ctx.attr("group", 1))
    pads = explicit_pads(ctx, shape[2:], kernel, strides, dilations)
    c_in = shape[1]
    if groups <= 0 or c_in % groups or w.shape[0] % groups or w.shape[1] * groups != c_in:
        ctx.fail(f"group={groups} does not fit input channels {c_in} and weight {w.shape}")
    if b is not None and b.shape != (w.shape[0],):
        ctx.fail(f"bias shape {b.shape} does not match {w.shape[0]} output channels")
    layer = nn.Conv2d(c_in, w.shape[0], kernel, stride=strides, dilation=dilations, groups=groups,
                      padding=(pads[0], pads[2], pads[1], pads[3]), bias=b is not None)
    set_param(layer, "weight", w)
    if b is not None:
        set_param(layer, "bias", b)
    return ctx.layer(layer, x, param_input=1)


@converter("BatchNormalization")
def _batch_norm(ctx):
    x = ctx.graph_input(0, "X")
    scale, bias, mean, var = (ctx.const(i, n) for i, n in enumerate(("scale", "B", "mean", "var"), 1))
    shape = ctx.shape(x)
    c = shape[1] if len(shape) > 1 else None
    for name, a in (("scale", scale), ("B", bias), ("mean", mean), ("var", var)):
        if a.shape != (c,):
            ctx.fail(f"{name} has shape {a.shape}, expected ({c},) for input {shape}")
    if ctx.opset < 9 and ctx.attr("spatial", 1) != 1:
        ctx.fail("spatial=0 (per-activation) batch normalization is not supported")
    eps = float(ctx.attr("epsilon", 1e-5))
    momentum = float(ctx.attr("momentum", 0.9))
    if len(shape) == 4:
        layer = nn.BatchNorm2d(c, eps=eps, momentum=1.0 - momentum)
    elif len(shape) in (2, 3):
        layer = nn.BatchNorm1d(c, eps=eps, momentum=1.0 - momentum)
    else:
        ctx.fail(f"input rank {len(shape)} is not supported (2-D, 3-D or 4-D inputs)")
    set_param(layer, "weight", scale)
    set_param(layer, "bias", bias)
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    if len([o for o in ctx.node.output if o]) > 1:
        ctx.fail("the training-mode outputs (running mean/var) are not supported")
    return ctx.layer(layer, x, param_input=1)


def _pool_args(ctx, x):
    shape = ctx.shape(x)
    kernel = ctx.ints("kernel_shape")
    if kernel is None:
        ctx.fail("kernel_shape is required")
    k = len(kernel)
    if len(shape) != k + 2:
        ctx.fail(f"a {k}-D kernel on an input of shape {shape}")
    strides = ctx.ints("strides", (1,) * k, k)
    dilations = ctx.ints("dilations", (1,) * k, k)
    pads = explicit_pads(ctx, shape[2:], kernel, strides, dilations)
    return kernel, strides, dilations, pads, bool(ctx.attr("ceil_mode", 0))


@converter("MaxPool")
def _max_pool(ctx):
    x = ctx.graph_input(0, "X")
    kernel, strides, dilations, pads, ceil = _pool_args(ctx, x)
    if len(kernel) != 2:
        ctx.fail("only 2-D max pooling is supported so far")
    if pads[:2] != pads[2:]:
        x = ctx.op("pad", x, (pads[1], pads[3], pads[0], pads[2]), "constant", float("-inf"))
        pads = (0, 0, 0, 0)
    if len([o for o in ctx.node.output if o]) > 1:
        ctx.fail("the Indices output is not supported so far")
    layer = nn.MaxPool2d(kernel, strides, (pads[0], pads[1]), dilations, ceil_mode=ceil)
    return ctx.layer(layer, x)


@converter("GlobalAveragePool")
def _global_avg_pool(ctx):
    x = ctx.graph_input(0, "X")
    if len(ctx.shape(x)) != 4:
        ctx.fail("only 4-D inputs are supported so far")
    return ctx.op("adaptive_avg_pool2d", x, 1)


@converter("Gemm")
def _gemm(ctx):
    a = ctx.input(0)
    b = ctx.const(1, "B")
    c = ctx.const(2, "C")
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    if is_constant(a):
        a2 = a.T if trans_a else a
        out = alpha * (a2 @ (b.T if trans_b else b))
        return out + beta * c if c is not None else out
    if trans_a:
        ctx.fail("transA=1 on a run-time input (the batch would become the features)")
    if b.ndim != 2:
        ctx.fail(f"B must be 2-D, got {b.shape}")
    weight = (b if trans_b else b.T) * alpha  # Linear keeps (out, in)
    out_features, in_features = weight.shape
    shape = ctx.shape(a)
    if len(shape) != 2 or shape[1] != in_features:
        ctx.fail(f"A has shape {shape}, B gives {in_features} input features")
    bias = None
    if c is not None:
        c = np.asarray(c, np.float32) * beta
        if c.size == 1:
            bias = np.full(out_features, c.reshape(()), np.float32)
        elif c.shape in ((out_features,), (1, out_features)):
            bias = c.reshape(out_features)
        else:
            ctx.fail(f"C has shape {c.shape}; only a bias broadcast over the batch is supported")
    layer = nn.Linear(in_features, out_features, bias=bias is not None)
    set_param(layer, "weight", weight)
    if bias is not None:
        set_param(layer, "bias", bias)
    return ctx.layer(layer, a, param_input=1)
