"""Converters for the normalizations: BatchNormalization, InstanceNormalization,
LayerNormalization, GroupNormalization and LRN.

Each becomes the library's layer (nn.BatchNorm1d/2d, nn.InstanceNorm2d, nn.LayerNorm,
nn.GroupNorm, nn.LocalResponseNorm) with the scale and bias as Parameters named as in the
file (BatchNorm's mean and variance as its running-statistics buffers). A rank the layer
does not take is reshaped around it: the statistics cover the same values.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ._registry import converter
from .convert_conv import set_param, weighted_layer


def _eps(ctx):
    eps = float(ctx.attr("epsilon", 1e-5))
    if not np.isfinite(eps) or eps < 0:
        ctx.fail(f"epsilon must be a finite value >= 0, got {eps}")
    return eps


def _as_image(ctx, x, shape):
    """(x as (N, C, H, W), the shape to restore or None): a 3-D (N, C, L) becomes
    (N, C, L, 1), a 5-D or higher (N, C, D, H, ..., W) becomes (N, C, D*H*..., W) -- the
    same values per channel, for the layers that take 4-D inputs only."""
    if len(shape) == 4:
        return x, None
    if len(shape) == 3:
        return ctx.op("reshape", x, (-1, shape[1], shape[2], 1)), shape
    rows = int(np.prod(shape[2:-1], dtype=np.int64))
    return ctx.op("reshape", x, (-1, shape[1], rows, shape[-1])), shape


def _restore(ctx, y, shape):
    return y if shape is None else ctx.op("reshape", y, (-1,) + tuple(shape[1:]))


def _channel_vectors(ctx, c, names, first_input=1):
    """The per-channel constant inputs (scale, bias, ...) of a node, each shape (c,)."""
    out = []
    for i, name in enumerate(names, first_input):
        a = ctx.const(i, name)
        if a is None or np.shape(a) != (c,):
            ctx.fail(f"{name} has shape {None if a is None else np.shape(a)}, expected ({c},)")
        out.append(a)
    return out


# -- BatchNormalization ----------------------------------------------------------------------
def _batch_norm(ctx):
    x = ctx.graph_input(0, "X")
    shape = ctx.shape(x)
    if len(shape) < 2:
        ctx.fail(f"input of shape {shape} has no channel dim")
    c = shape[1]
    scale, bias, mean, var = _channel_vectors(ctx, c, ("scale", "B", "mean", "var"))
    if len([o for o in ctx.node.output if o]) > 1:
        ctx.fail("the training-mode outputs (running mean / var, saved statistics) are not supported")
    eps = _eps(ctx)
    momentum = float(ctx.attr("momentum", 0.9))
    if not 0.0 <= momentum <= 1.0:
        ctx.fail(f"momentum must be in [0, 1], got {momentum}")
    # ONNX keeps momentum * running + (1 - momentum) * batch; torch's momentum is the other share
    args = dict(eps=eps, momentum=1.0 - momentum)
    if len(shape) in (2, 3):
        layer, shape_back = nn.BatchNorm1d(c, **args), None
    else:
        x, shape_back = _as_image(ctx, x, shape)
        layer = nn.BatchNorm2d(c, **args)
    set_param(layer, "weight", scale)
    set_param(layer, "bias", bias)
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    return _restore(ctx, weighted_layer(ctx, layer, x, 1), shape_back)


@converter("BatchNormalization", since=1)
def _batch_norm_v1(ctx):  # is_test, spatial (and consumed_inputs, a legacy optimisation hint)
    if ctx.attr("spatial", 1) != 1:
        ctx.fail("spatial=0 (per-activation) batch normalization is not supported")
    return _batch_norm(ctx)


@converter("BatchNormalization", since=7)
def _batch_norm_v7(ctx):  # is_test removed; spatial stays
    if ctx.attr("spatial", 1) != 1:
        ctx.fail("spatial=0 (per-activation) batch normalization is not supported")
    return _batch_norm(ctx)


@converter("BatchNormalization", since=9)
def _batch_norm_v9(ctx):  # spatial removed: always per channel
    return _batch_norm(ctx)


@converter("BatchNormalization", since=14)
def _batch_norm_v14(ctx):  # training_mode (15: scale/bias and mean/var may differ in type)
    if int(ctx.attr("training_mode", 0)):
        ctx.fail("training_mode=1 (statistics of the batch at inference) is not supported; export in eval mode")
    return _batch_norm(ctx)


# -- InstanceNormalization -------------------------------------------------------------------
@converter("InstanceNormalization", since=1)
def _instance_norm(ctx):  # (6: consumed_inputs removed -- same meaning)
    x = ctx.graph_input(0, "input")
    shape = ctx.shape(x)
    if len(shape) < 3:
        ctx.fail(f"input of shape {shape} has no spatial dims (expected (N, C, ...))")
    c = shape[1]
    scale, bias = _channel_vectors(ctx, c, ("scale", "B"))
    x, shape_back = _as_image(ctx, x, shape)
    layer = nn.InstanceNorm2d(c, eps=_eps(ctx), affine=True)
    set_param(layer, "weight", scale)
    set_param(layer, "bias", bias)
    return _restore(ctx, weighted_layer(ctx, layer, x, 1), shape_back)


# -- LayerNormalization ----------------------------------------------------------------------
@converter("LayerNormalization", since=17)
def _layer_norm(ctx):
    x = ctx.graph_input(0, "X")
    shape = ctx.shape(x)
    rank = len(shape)
    axis = int(ctx.attr("axis", -1))
    if not -rank <= axis < rank:
        ctx.fail(f"axis {axis} is out of range for an input of rank {rank}")
    axis %= rank
    if axis == 0:
        ctx.fail("axis 0 normalizes over the batch too; only axes >= 1 are supported")
    normalized = tuple(shape[axis:])
    layer = nn.LayerNorm(normalized, eps=_eps(ctx))
    for i, name in ((1, "weight"), (2, "bias")):
        a = ctx.const(i, "Scale" if i == 1 else "B")
        if a is None:
            layer._parameters[name] = None  # no bias: torch's LayerNorm(bias=False) keeps none
            continue
        try:
            a = np.broadcast_to(a, normalized) if a.shape != normalized else a
        except ValueError:
            ctx.fail(f"{'Scale' if i == 1 else 'B'} of shape {a.shape} does not broadcast to the normalized "
                     f"shape {normalized}")
        set_param(layer, name, a)
    y = weighted_layer(ctx, layer, x, 1)
    if not any(ctx.output_read(i) for i in (1, 2)):
        return y
    return (y,) + _layer_norm_statistics(ctx, x, tuple(range(axis, rank)), _eps(ctx))


def _layer_norm_statistics(ctx, x, dims, eps):
    """LayerNormalization's optional outputs, Mean and InvStdDev = 1/sqrt(var + eps) over
    `dims` (kept as size-1 dims), computed from ops (the layer returns only Y)."""
    mean = ctx.op("mean", x, dims, True)
    centered = ctx.op("sub", x, mean)
    var = ctx.op("mean", ctx.op("mul", centered, centered), dims, True)
    return mean, ctx.op("pow", ctx.op("add", var, np.float32(eps)), -0.5)


# -- GroupNormalization ----------------------------------------------------------------------
def _group_norm(ctx, per_group):
    x = ctx.graph_input(0, "X")
    shape = ctx.shape(x)
    if len(shape) < 3:
        ctx.fail(f"input of shape {shape} has no spatial dims (expected (N, C, ...))")
    c = shape[1]
    groups = ctx.attr("num_groups")
    if groups is None:
        ctx.fail("num_groups is required")
    groups = int(groups)
    if groups <= 0 or c % groups:
        ctx.fail(f"num_groups={groups} does not divide the {c} channels")
    if int(ctx.attr("stash_type", 1)) != 1:
        ctx.fail("stash_type other than 1 (float32 statistics) is not supported")
    scale, bias = _channel_vectors(ctx, groups if per_group else c, ("scale", "bias"))
    if per_group:  # opset 18: one scale / bias per group, the same for all its channels
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    layer = nn.GroupNorm(groups, c, eps=_eps(ctx))
    set_param(layer, "weight", scale)
    set_param(layer, "bias", bias)
    return weighted_layer(ctx, layer, x, 1)


@converter("GroupNormalization", since=18)
def _group_norm_v18(ctx):  # scale and bias are (num_groups,)
    return _group_norm(ctx, per_group=True)


@converter("GroupNormalization", since=21)
def _group_norm_v21(ctx):  # scale and bias are (C,), one per channel (as torch's GroupNorm)
    return _group_norm(ctx, per_group=False)


# -- LRN -------------------------------------------------------------------------------------
@converter("LRN", since=1)
def _lrn(ctx):  # (13: bfloat16 only)
    x = ctx.graph_input(0, "X")
    shape = ctx.shape(x)
    if len(shape) < 3:
        ctx.fail(f"input of shape {shape} has no spatial dims (expected (N, C, ...))")
    size = ctx.attr("size")
    if size is None or int(size) <= 0:
        ctx.fail(f"size must be a positive int, got {size}")
    size = int(size)
    # Both divide by (bias + alpha / size * sum of squares)^beta. ONNX's window is channels
    # c - floor((size-1)/2) .. c + ceil((size-1)/2), torch's c - size//2 .. c + (size-1)//2:
    # equal for odd sizes, mirrored for even ones -- so an even size runs on the channels
    # reversed (and reversed back).
    layer = nn.LocalResponseNorm(size, alpha=float(ctx.attr("alpha", 1e-4)), beta=float(ctx.attr("beta", 0.75)),
                                 k=float(ctx.attr("bias", 1.0)))
    if size % 2:
        return ctx.layer(layer, x)
    flip = (slice(None), slice(None, None, -1))
    y = ctx.layer(layer, ctx.op("getitem", x, flip))
    return ctx.op("getitem", y, flip)
