"""Converters for activations and the softmaxes: LeakyRelu, PRelu, Elu, Selu, Celu,
ThresholdedRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softplus, Softsign, Gelu, Mish,
Erf, Clip, Softmax, LogSoftmax (Relu is in convert_basic).

Each becomes the library's layer (nn.LeakyReLU, nn.PReLU with its slope as a trainable
Parameter, nn.ReLU6 for Clip(0, 6), ...) so the engine's fused epilogues apply; where the
ONNX attributes leave the layer's fixed form (a HardSigmoid that is not relu6(x+3)/6, a
Selu with other constants) the node is spelled with general ops instead, never
approximated. On a constant input the same layer runs once at load (folding).
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn, ops
from ..nn.module import Module, Parameter
from ._registry import converter
from ._values import ShapeTensor, is_constant, is_graph_value

# ONNX's float32 spellings of the constants its defaults and torch's exports use
_FLT_MAX = float(np.finfo(np.float32).max)


def _close(a, b) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-7)


def _data(ctx):
    x = ctx.input(0)
    if isinstance(x, ShapeTensor):
        ctx.fail("an activation of a shape tensor is not supported")
    return x


def apply_layer(ctx, module, x=None):
    """`module` on the node's input: a graph layer, or run once now on a constant."""
    x = _data(ctx) if x is None else x
    if is_constant(x):
        return np.asarray(module(np.asarray(x, dtype=np.float32)))
    return ctx.layer(module, x)


def _float_attr(ctx, name, default):
    v = float(ctx.attr(name, default))
    if not math.isfinite(v):
        ctx.fail(f"attribute {name} must be finite, got {v}")
    return v


def _simple(op_type, make_layer, since=1):
    @converter(op_type, since=since)
    def convert(ctx):
        return apply_layer(ctx, make_layer())
    return convert


_simple("Sigmoid", nn.Sigmoid)
_simple("Tanh", nn.Tanh)
_simple("Softsign", nn.Softsign)
_simple("Softplus", nn.Softplus)  # torch's threshold 20 changes nothing in float32
_simple("HardSwish", nn.Hardswish, since=14)
_simple("Mish", nn.Mish, since=18)


@converter("Erf", since=9)
def _erf(ctx):
    return ctx.op("erf", _data(ctx))


@converter("LeakyRelu")
def _leaky_relu(ctx):
    return apply_layer(ctx, nn.LeakyReLU(_float_attr(ctx, "alpha", 0.01)))


@converter("Elu")
def _elu(ctx):
    return apply_layer(ctx, nn.ELU(_float_attr(ctx, "alpha", 1.0)))


@converter("Celu", since=12)
def _celu(ctx):
    alpha = _float_attr(ctx, "alpha", 1.0)
    if alpha == 0.0:
        ctx.fail("alpha must not be 0 (Celu divides by it)")
    return apply_layer(ctx, nn.CELU(alpha))


@converter("ThresholdedRelu", since=10)
def _thresholded_relu(ctx):
    return apply_layer(ctx, nn.Threshold(_float_attr(ctx, "alpha", 1.0), 0.0))


# ONNX's Selu defaults are float32 roundings of the SELU constants nn.SELU uses
_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


@converter("Selu")
def _selu(ctx):
    alpha = _float_attr(ctx, "alpha", _SELU_ALPHA)
    gamma = _float_attr(ctx, "gamma", _SELU_GAMMA)
    if _close(alpha, _SELU_ALPHA) and _close(gamma, _SELU_GAMMA):
        return apply_layer(ctx, nn.SELU())
    return ctx.op("mul", ctx.op("elu", _data(ctx), alpha), np.float32(gamma))


@converter("HardSigmoid")
def _hard_sigmoid(ctx):
    alpha = _float_attr(ctx, "alpha", 0.2)
    beta = _float_attr(ctx, "beta", 0.5)
    if _close(alpha, 1 / 6) and _close(beta, 0.5):
        return apply_layer(ctx, nn.Hardsigmoid())
    # max(0, min(1, alpha * x + beta)) in general
    scaled = ctx.op("add", ctx.op("mul", _data(ctx), np.float32(alpha)), np.float32(beta))
    return ctx.op("clamp", scaled, 0.0, 1.0)


@converter("Gelu", since=20)
def _gelu(ctx):
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        ctx.fail(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply_layer(ctx, nn.GELU(approximate))


# -- PRelu ----------------------------------------------------------------------------------------


class BroadcastPReLU(Module):
    """PReLU whose slope broadcasts to the input in any shape ONNX allows (one per pixel,
    (C, H, W), (W,), ...): x where x > 0, else weight * x, with `weight` a Parameter."""

    def __init__(self, weight):
        super().__init__()
        self.weight = Parameter(np.ascontiguousarray(weight, dtype=np.float32).copy())

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        return ops.add(ops.maximum(x, 0.0), ops.mul(ops.minimum(x, 0.0), self.weight))


def _channel_slopes(slope, rank):
    """The per-channel slope vector when `slope`, aligned right to an input of `rank`
    dims, has one entry, or varies along dim 1 (channels) only; else None."""
    if slope.size == 1:
        return slope.reshape(1)
    if slope.ndim > rank or rank < 2:
        return None
    aligned = (1,) * (rank - slope.ndim) + slope.shape
    if all(d == 1 for k, d in enumerate(aligned) if k != 1):
        return slope.reshape(-1)
    return None


@converter("PRelu")
def _prelu(ctx):
    x = _data(ctx)
    if is_graph_value(ctx.input(1)):  # a slope computed at run time: no Parameter to hold
        slope = ctx.input(1)
        if not is_graph_value(x) or len(ctx.shape(slope)) != len(ctx.shape(x)):
            ctx.fail(f"a run-time slope of shape {ctx.shape(slope)} needs a run-time input of the same rank")
        return ctx.op("add", ctx.op("maximum", x, 0.0), ctx.op("mul", ctx.op("minimum", x, 0.0), slope))
    slope = ctx.const(1, "slope")
    if slope is None:
        ctx.fail("missing slope input")
    shape = ctx.shape(x)
    if is_constant(x):
        return np.where(x > 0, x, x * slope).astype(np.float32)
    rank = len(shape)
    aligned = (1,) * (rank - slope.ndim) + slope.shape if slope.ndim <= rank else None
    if aligned is None or aligned[0] != 1 or any(s not in (1, d) for s, d in zip(aligned[1:], shape[1:])):
        ctx.fail(f"slope of shape {slope.shape} does not broadcast to the input "
                 f"{tuple('N' if d is None else d for d in shape)} without spanning the batch")
    channels = _channel_slopes(slope, rank)
    if channels is not None and (channels.size == 1 or channels.size == shape[1]):
        layer = nn.PReLU(channels.size)
        layer.weight = Parameter(np.ascontiguousarray(channels, dtype=np.float32).copy())
    else:
        layer = BroadcastPReLU(np.reshape(slope, aligned[1:]))
    return ctx.layer(layer, x, param_input=1)


# -- Clip -------------------------------------------------------------------------------------------


def _bound(v, what, ctx, infinite):
    if v is None:
        return None
    v = np.asarray(v)
    if v.size != 1:
        ctx.fail(f"{what} must be a scalar, got shape {v.shape}")
    v = v.reshape(()).item()
    if isinstance(v, float) and math.isnan(v):
        ctx.fail(f"{what} is NaN")
    return None if (v <= -_FLT_MAX if infinite < 0 else v >= _FLT_MAX) else v


def clip(ctx, x, lo, hi):
    """x limited to [lo, hi] (None: unbounded on that side), as the fastest layer that is
    exact: Clip(0, 6) is ReLU6, Clip(0, inf) ReLU, other bounds Hardtanh (or clamp, which
    also keeps ONNX's lo > hi answer: hi everywhere)."""
    if is_constant(x):
        if lo is None and hi is None:
            return x
        out = np.clip(x, lo, hi) if lo is None or hi is None or lo <= hi else np.full_like(x, hi)
        return out.astype(x.dtype, copy=False)
    if not is_graph_value(x):
        ctx.fail("clip of a shape tensor is not supported")
    if lo is None and hi is None:
        return x
    if lo == 0 and hi == 6:
        return ctx.layer(nn.ReLU6(), x)
    if lo == 0 and hi is None:
        return ctx.layer(nn.ReLU(), x)
    if lo is not None and hi is not None and lo <= hi:
        return ctx.layer(nn.Hardtanh(float(lo), float(hi)), x)
    return ctx.op("clamp", x, None if lo is None else float(lo), None if hi is None else float(hi))


@converter("Clip", since=11)
def _clip(ctx):
    x = _data(ctx)
    lo = _bound(ctx.const(1, "min"), "min", ctx, -1)
    hi = _bound(ctx.const(2, "max"), "max", ctx, +1)
    return clip(ctx, x, lo, hi)


@converter("Clip", since=1)
def _clip_attributes(ctx):
    x = _data(ctx)
    lo = _bound(ctx.attr("min"), "min", ctx, -1)
    hi = _bound(ctx.attr("max"), "max", ctx, +1)
    return clip(ctx, x, lo, hi)


# -- Softmax, LogSoftmax ---------------------------------------------------------------------------


def _softmax_layer(log):
    return nn.LogSoftmax if log else nn.Softmax


def _softmax_axis(ctx, x, default):
    rank = len(ctx.shape(x))
    axis = int(ctx.attr("axis", default))
    if not -rank <= axis < rank:
        ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _softmax_one_axis(ctx, log):
    """Opset 13 on: softmax along one axis (default -1)."""
    x = _data(ctx)
    axis = _softmax_axis(ctx, x, -1)
    if is_constant(x):
        return np.asarray(_softmax_layer(log)(axis)(x.astype(np.float32)))
    if axis == 0:
        ctx.fail("softmax over axis 0 would mix the samples of a batch")
    return ctx.layer(_softmax_layer(log)(axis), x)


def _softmax_flattened(ctx, log):
    """Before opset 13: the input is seen as 2-D, dims [0, axis) by dims [axis, rank), and
    each row is normalised: a softmax over all the trailing dims together (default axis 1)."""
    x = _data(ctx)
    shape = ctx.shape(x)
    axis = _softmax_axis(ctx, x, 1)
    layer = _softmax_layer(log)(-1)
    if is_constant(x):
        rows = x.astype(np.float32).reshape(int(np.prod(shape[:axis], dtype=np.int64)), -1)
        return np.asarray(layer(rows)).reshape(shape)
    if axis == 0:
        ctx.fail("softmax with axis 0 normalises over the whole batch; only axis >= 1 is supported")
    if axis == len(shape) - 1:
        return ctx.layer(layer, x)
    rows = ctx.op("reshape", x, (-1,) + tuple(shape[1:axis]) + (int(np.prod(shape[axis:], dtype=np.int64)),))
    return ctx.op("reshape", ctx.layer(layer, rows), (-1,) + tuple(shape[1:]))


@converter("Softmax", since=13)
def _softmax(ctx):
    return _softmax_one_axis(ctx, log=False)


@converter("Softmax", since=1)
def _softmax_legacy(ctx):
    return _softmax_flattened(ctx, log=False)


@converter("LogSoftmax", since=13)
def _log_softmax(ctx):
    return _softmax_one_axis(ctx, log=True)


@converter("LogSoftmax", since=1)
def _log_softmax_legacy(ctx):
    return _softmax_flattened(ctx, log=True)
