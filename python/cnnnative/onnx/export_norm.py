"""Exporters: batch, layer, group and instance normalization, local response norm.
Eval-mode semantics: BatchNorm normalizes with its running statistics."""
from __future__ import annotations

import numpy as np

from ._export_registry import exporter


def _affine_or(ctx, node, arg, channels, fill):
    """The node's weight/bias initializer, or a constant of `fill` where it has none."""
    if node.args.get(arg) is not None:
        return ctx.input(arg)
    return ctx.const(np.full(channels, fill, np.float32), arg)


@exporter("batch_norm")
def batch_norm(ctx, node):
    a = node.args
    if a.get("training", False) or a.get("running_mean") is None:
        ctx.fail("batch_norm with batch statistics (training=True, or no running statistics) mixes the "
                 "samples of a batch; only eval-mode BatchNorm (running statistics) exports")
    channels = a["running_mean"].shape[0]
    ctx.emit("BatchNormalization",
             [ctx.input("input"), _affine_or(ctx, node, "weight", channels, 1.0),
              _affine_or(ctx, node, "bias", channels, 0.0), ctx.input("running_mean"), ctx.input("running_var")],
             ctx.out, epsilon=float(a.get("eps", 1e-5)))


@exporter("instance_norm")
def instance_norm(ctx, node):
    a = node.args
    channels = ctx.shape_of("input")[1]
    scale = _affine_or(ctx, node, "weight", channels, 1.0)
    shift = _affine_or(ctx, node, "bias", channels, 0.0)
    eps = float(a.get("eps", 1e-5))
    if a.get("use_input_stats", True):
        ctx.emit("InstanceNormalization", [ctx.input("input"), scale, shift], ctx.out, epsilon=eps)
    elif a.get("running_mean") is None:
        ctx.fail("instance_norm with use_input_stats=False needs running statistics")
    else:  # normalizing with the running statistics is an eval-mode BatchNorm
        ctx.emit("BatchNormalization", [ctx.input("input"), scale, shift, ctx.input("running_mean"),
                                        ctx.input("running_var")], ctx.out, epsilon=eps)


@exporter("layer_norm")
def layer_norm(ctx, node):
    a = node.args
    normalized = a["normalized_shape"]
    normalized = (int(normalized),) if np.ndim(normalized) == 0 else tuple(int(d) for d in normalized)
    k, eps = len(normalized), float(a.get("eps", 1e-5))
    x = ctx.input("input")
    if ctx.opset >= 17:
        inputs = [x, _affine_or(ctx, node, "weight", normalized, 1.0)]
        if a.get("bias") is not None:
            inputs.append(ctx.input("bias"))
        ctx.emit("LayerNormalization", inputs, ctx.out, axis=-k, epsilon=eps)
        return
    axes = list(range(-k, 0))
    mean = ctx.axes_op("ReduceMean", x, axes, since_input=18, keepdims=1)
    centred = ctx.emit("Sub", [x, mean])
    var = ctx.axes_op("ReduceMean", ctx.emit("Mul", [centred, centred]), axes, since_input=18, keepdims=1)
    std = ctx.emit("Sqrt", [ctx.emit("Add", [var, ctx.scalar(eps, "eps")])])
    _scale_shift(ctx, node, ctx.emit("Div", [centred, std]), None)


def _scale_shift(ctx, node, y, shape):
    """y * weight + bias (either may be absent), the last node writing the output. `shape`:
    the broadcast shape the parameters are stored with (None: as they are)."""
    steps = [(op, arg) for op, arg in (("Mul", "weight"), ("Add", "bias")) if node.args.get(arg) is not None]
    if not steps:
        ctx.emit("Identity", [y], ctx.out)
    for i, (op, arg) in enumerate(steps):
        p = node.args[arg]
        operand = ctx.input(arg) if shape is None else ctx.param_as(p, shape, arg)
        y = ctx.emit(op, [y, operand], ctx.out if i == len(steps) - 1 else None)


@exporter("group_norm")
def group_norm(ctx, node):
    """Statistics per (sample, group): the input seen as (N, G, rest) through
    InstanceNormalization, then the per-channel affine."""
    a = node.args
    shape = ctx.shape_of("input")
    groups, eps = int(a["num_groups"]), float(a.get("eps", 1e-5))
    grouped = ctx.reshape(ctx.input("input"), (None, groups, -1))
    normed = ctx.emit("InstanceNormalization", [grouped, ctx.const(np.ones(groups, np.float32), "ones"),
                                                ctx.const(np.zeros(groups, np.float32), "zeros")], epsilon=eps)
    y = ctx.reshape(normed, (None,) + shape[1:])
    _scale_shift(ctx, node, y, (shape[1],) + (1,) * (len(shape) - 2))


@exporter("local_response_norm")
def local_response_norm(ctx, node):
    """ONNX's LRN window is ours for odd sizes; an even size puts the extra channel on the
    other side, so it is written out: the squares summed over a padded channel window."""
    a = node.args
    size, alpha = int(a["size"]), float(a.get("alpha", 1e-4))
    beta, k = float(a.get("beta", 0.75)), float(a.get("k", 1.0))
    x = ctx.input("input")
    if size % 2:
        ctx.emit("LRN", [x], ctx.out, size=size, alpha=alpha, beta=beta, bias=k)
        return
    shape = ctx.shape_of("input")
    squares = ctx.reshape(ctx.emit("Mul", [x, x]), (None, 1, shape[1], -1))
    padded = ctx.emit("Pad", [squares, ctx.ints([0, 0, size // 2, 0, 0, 0, (size - 1) // 2, 0], "pads")])
    mean = ctx.emit("AveragePool", [padded], kernel_shape=[size, 1])  # sum / size
    mean = ctx.reshape(mean, (None,) + shape[1:])
    base = ctx.emit("Add", [ctx.emit("Mul", [mean, ctx.scalar(alpha, "alpha")]), ctx.scalar(k, "k")])
    ctx.emit("Div", [x, ctx.emit("Pow", [base, ctx.scalar(beta, "beta")])], ctx.out)
