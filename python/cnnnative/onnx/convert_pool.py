"""Converters for the pools: MaxPool, AveragePool, LpPool (1-D, 2-D, 3-D) and their
Global* forms (any rank).

The common case (symmetric pads of at most half the kernel) is one `ops.*_pool*d` call,
which the compiled engine runs as its own pool node. Otherwise the input is padded first
(with -inf for max, zeros for the sums), pooled without padding, and cropped to the
output size ONNX gives; for averages a constant per-window factor then makes the divisor
the one ONNX uses (count_include_pad counts the explicit pads but never a ceil_mode
overhang). The library's average pools have no dilation: a dilated average or Lp pool
sums its windows with a depthwise ones-kernel convolution and divides by the per-position
tap count, known at load. Every opset where an attribute appears is its own registration.
"""
from __future__ import annotations

import numpy as np

from ._registry import converter
from .convert_conv import explicit_pads, spatial_attrs, torch_pad

__all__ = ["onnx_pool_size"]


def onnx_pool_size(n, kernel, stride, dilation, before, after, ceil):
    """The output length of one pooled axis, as ONNX (and torch) define it: with ceil_mode a
    last window that would start in the right padding is dropped, and a window that
    overhangs the padded input by less than a stride still gives one output. 0 when no
    window fits."""
    span = (kernel - 1) * dilation + 1
    total = n + before + after - span
    out = (-(-total // stride) if ceil else total // stride) + 1
    if ceil and (out - 1) * stride >= n + before:
        out -= 1
    return max(out, 0)


class _Geometry:
    """A pool node's attributes, resolved: kernel, strides, dilations, pads, ceil_mode and
    the ONNX output size of each spatial axis."""

    def __init__(self, ctx, x, *, dilations=True, ceil=True):
        shape = ctx.shape(x)
        kernel = ctx.ints("kernel_shape")
        if kernel is None:
            ctx.fail("kernel_shape is required")
        k = len(kernel)
        if k not in (1, 2, 3) or len(shape) != k + 2:
            ctx.fail(f"a {k}-D kernel on an input of shape {shape}: only 1-D, 2-D and 3-D pools are supported")
        if min(kernel) <= 0:
            ctx.fail(f"kernel_shape must be positive, got {kernel}")
        self.k, self.kernel, self.spatial = k, kernel, tuple(shape[2:])
        self.strides, self.dilations = spatial_attrs(ctx, k)
        if not dilations and ctx.has_attr("dilations"):
            ctx.fail(f"dilations are not an attribute of {ctx.node.op_type} at opset {ctx.opset}")
        self.ceil = bool(ctx.attr("ceil_mode", 0)) if ceil else False
        if not ceil and ctx.has_attr("ceil_mode"):
            ctx.fail(f"ceil_mode is not an attribute of {ctx.node.op_type} at opset {ctx.opset}")
        pads = explicit_pads(ctx, self.spatial, kernel, self.strides, self.dilations, self.ceil)
        self.before, self.after = pads[:k], pads[k:]
        self.out = tuple(onnx_pool_size(n, kk, s, d, b, a, self.ceil) for n, kk, s, d, b, a in
                         zip(self.spatial, kernel, self.strides, self.dilations, self.before, self.after))
        if min(self.out) <= 0:
            ctx.fail(f"the window {kernel} (dilations {self.dilations}) does not fit the padded input "
                     f"{self.spatial}; the output would be {self.out}")

    def arg(self, values):
        """A per-axis attribute as the 1-D ops take it (an int) or the 2-D / 3-D ones (a tuple)."""
        return values[0] if self.k == 1 else tuple(values)

    @property
    def simple(self) -> bool:
        """The pads are what the library's pool ops take themselves (symmetric, at most half
        the kernel)."""
        return self.before == self.after and all(2 * p <= kk for p, kk in zip(self.before, self.kernel))

    def pool(self, ctx, opname, x, fill, **kwargs):
        """ops.<opname> on x with this geometry: with the op's own padding when it can take
        the pads, else on x padded by `fill` first (padding 0), cropped to ONNX's size."""
        k = self.k
        if self.simple:
            return ctx.op(opname, x, self.arg(self.kernel), self.arg(self.strides), self.arg(self.before),
                          ceil_mode=self.ceil, **kwargs)
        x = ctx.op("pad", x, torch_pad(self.before, self.after), "constant", fill)
        y = ctx.op(opname, x, self.arg(self.kernel), self.arg(self.strides), 0, ceil_mode=self.ceil, **kwargs)
        got = self.padded_out()
        crop = [g - o for g, o in zip(got, self.out)]
        if any(crop):
            y = ctx.op("pad", y, torch_pad((0,) * k, [-c for c in crop]))
        return y

    def padded_out(self):
        """Output sizes of a pool with padding 0 on the input already padded."""
        return tuple(onnx_pool_size(n + b + a, kk, s, d, 0, 0, self.ceil) for n, kk, s, d, b, a in
                     zip(self.spatial, self.kernel, self.strides, self.dilations, self.before, self.after))

    def window_counts(self, inside):
        """Per output position, how many of its window's taps fall on the input
        (inside='input') or on the input with its explicit pads (inside='padded'): the
        product of the per-axis counts, shaped (1, *out) to broadcast over N and C."""
        total = np.ones((1,) + self.out, np.float64)
        for axis, (n, kk, s, d, b, a, o) in enumerate(zip(self.spatial, self.kernel, self.strides,
                                                          self.dilations, self.before, self.after, self.out)):
            lo, hi = (0, n) if inside == "input" else (-b, n + a)
            starts = np.arange(o) * s - b
            taps = starts[:, None] + np.arange(kk)[None, :] * d
            count = ((taps >= lo) & (taps < hi)).sum(axis=1)
            shape = [1] * (self.k + 1)
            shape[axis + 1] = o
            total = total * count.reshape(shape)
        return total


def _window_sum(ctx, x, geo):
    """The sum over each window (zeros for the pads), as avg_pool times its divisor."""
    if max(geo.dilations) > 1:
        return _dilated_window_sum(ctx, x, geo)
    y = geo.pool(ctx, f"avg_pool{geo.k}d", x, 0.0, count_include_pad=True)
    # the op divides by the taps inside what it sees as input (+ its own padding)
    divisor = geo.window_counts("padded")
    return ctx.op("mul", y, divisor.astype(np.float32))


def _dilated_window_sum(ctx, x, geo):
    """The sum over each dilated window (zeros for the pads and for a ceil_mode overhang):
    the library's average pools have no dilation, so a depthwise convolution with a ones
    kernel per channel on the input padded first. The end padding also covers the last
    ceil_mode window's overhang, so the convolution's output is exactly ONNX's size."""
    channels = ctx.shape(x)[1]
    end = [max(a, (o - 1) * s + (kk - 1) * d + 1 - n - b)
           for n, kk, s, d, b, a, o in zip(geo.spatial, geo.kernel, geo.strides, geo.dilations,
                                           geo.before, geo.after, geo.out)]
    x = ctx.op("pad", x, torch_pad(geo.before, end), "constant", 0.0)
    ones = np.ones((channels, 1) + tuple(geo.kernel), np.float32)
    y = ctx.op(f"conv{geo.k}d", x, ones, None, geo.arg(geo.strides), 0, geo.arg(geo.dilations), channels)
    got = tuple(onnx_pool_size(n + b + e, kk, s, d, 0, 0, False) for n, kk, s, d, b, e in
                zip(geo.spatial, geo.kernel, geo.strides, geo.dilations, geo.before, end))
    crop = [g - o for g, o in zip(got, geo.out)]
    if any(crop):  # the end padding kept a pad-only window ONNX does not have
        y = ctx.op("pad", y, torch_pad((0,) * geo.k, [-c for c in crop]))
    return y


def _average(ctx, x, geo, count_include_pad):
    if max(geo.dilations) > 1:
        # ONNX divides by the taps on the input (with count_include_pad: on the input and
        # its explicit pads), never counting a ceil_mode overhang
        count = geo.window_counts("padded" if count_include_pad else "input")
        return ctx.op("div", _dilated_window_sum(ctx, x, geo), np.maximum(count, 1).astype(np.float32))
    if geo.simple:
        return geo.pool(ctx, f"avg_pool{geo.k}d", x, 0.0, count_include_pad=count_include_pad)
    y = geo.pool(ctx, f"avg_pool{geo.k}d", x, 0.0, count_include_pad=True)
    if count_include_pad:
        return y  # the op's divisor (taps within the padded input) is ONNX's
    factor = geo.window_counts("padded") / np.maximum(geo.window_counts("input"), 1)
    return ctx.op("mul", y, factor.astype(np.float32))


# -- MaxPool ---------------------------------------------------------------------------------
def _max_pool(ctx, *, indices_output, ceil_dilations):
    x = ctx.graph_input(0, "X")
    geo = _Geometry(ctx, x, dilations=ceil_dilations, ceil=ceil_dilations)
    wants_indices = len(ctx.node.output) > 1 and ctx.node.output[1] != ""
    if wants_indices and not indices_output:
        ctx.fail(f"MaxPool has no Indices output at opset {ctx.opset}")
    storage_order = int(ctx.attr("storage_order", 0))
    if storage_order not in (0, 1):
        ctx.fail(f"storage_order must be 0 or 1, got {storage_order}")
    opname = f"max_pool{geo.k}d"
    if not wants_indices:
        return geo.pool(ctx, opname, x, float("-inf"), dilation=geo.arg(geo.dilations))
    if geo.simple:
        y, idx = ctx.op(opname, x, geo.arg(geo.kernel), geo.arg(geo.strides), geo.arg(geo.before),
                        geo.arg(geo.dilations), geo.ceil, True)
        return y, ctx.op("onnx_flat_indices", idx, geo.spatial, storage_order)
    # padded with -inf first: the indices point into the padded plane, and a ceil_mode pool
    # there may give one more window at the end than ONNX, which both outputs drop
    xp = ctx.op("pad", x, torch_pad(geo.before, geo.after), "constant", float("-inf"))
    y, idx = ctx.op(opname, xp, geo.arg(geo.kernel), geo.arg(geo.strides), 0, geo.arg(geo.dilations), geo.ceil,
                    True)
    crop = [g - o for g, o in zip(geo.padded_out(), geo.out)]
    if any(crop):
        y = ctx.op("pad", y, torch_pad((0,) * geo.k, [-c for c in crop]))
    return y, ctx.op("onnx_flat_indices", idx, geo.spatial, storage_order, geo.before + geo.after, geo.out)


@converter("MaxPool", since=1)
def _max_pool_v1(ctx):
    return _max_pool(ctx, indices_output=False, ceil_dilations=False)


@converter("MaxPool", since=8)
def _max_pool_v8(ctx):  # the Indices output and storage_order
    return _max_pool(ctx, indices_output=True, ceil_dilations=False)


@converter("MaxPool", since=10)
def _max_pool_v10(ctx):  # ceil_mode and dilations (11: pads may be omitted; 12: int8 -- same here)
    return _max_pool(ctx, indices_output=True, ceil_dilations=True)


# -- AveragePool -----------------------------------------------------------------------------
def _average_pool(ctx, *, count_include_pad, ceil, dilations):
    x = ctx.graph_input(0, "X")
    geo = _Geometry(ctx, x, dilations=dilations, ceil=ceil)
    cip = int(ctx.attr("count_include_pad", 0)) if count_include_pad else 0
    if not count_include_pad and ctx.has_attr("count_include_pad"):
        ctx.fail(f"count_include_pad is not an attribute of AveragePool at opset {ctx.opset}")
    return _average(ctx, x, geo, bool(cip))


@converter("AveragePool", since=1)
def _average_pool_v1(ctx):
    return _average_pool(ctx, count_include_pad=False, ceil=False, dilations=False)


@converter("AveragePool", since=7)
def _average_pool_v7(ctx):  # count_include_pad
    return _average_pool(ctx, count_include_pad=True, ceil=False, dilations=False)


@converter("AveragePool", since=10)
def _average_pool_v10(ctx):  # ceil_mode (11: pads may be omitted)
    return _average_pool(ctx, count_include_pad=True, ceil=True, dilations=False)


@converter("AveragePool", since=19)
def _average_pool_v19(ctx):  # dilations
    return _average_pool(ctx, count_include_pad=True, ceil=True, dilations=True)


# -- LpPool ----------------------------------------------------------------------------------
def _p(ctx, as_float):
    p = ctx.attr("p", 2.0 if as_float else 2)
    p = float(p)
    if not np.isfinite(p) or p <= 0:
        ctx.fail(f"p must be positive, got {p}")
    return p


def _powered(ctx, x, p):
    """|x| ** p (just x * x for p = 2)."""
    if p == 2.0:
        return ctx.op("mul", x, x)
    return ctx.op("pow", ctx.op("abs", x), p)


def _root(ctx, s, p):
    return ctx.op("sqrt", s) if p == 2.0 else ctx.op("pow", s, 1.0 / p)


def _lp_pool(ctx, *, p_float, ceil_dilations):
    x = ctx.graph_input(0, "X")
    geo = _Geometry(ctx, x, dilations=ceil_dilations, ceil=ceil_dilations)
    p = _p(ctx, p_float)
    return _root(ctx, _window_sum(ctx, _powered(ctx, x, p), geo), p)


@converter("LpPool", since=1)
def _lp_pool_v1(ctx):  # p is a float attribute
    return _lp_pool(ctx, p_float=True, ceil_dilations=False)


@converter("LpPool", since=2)
def _lp_pool_v2(ctx):  # p is an int (11: pads may be omitted)
    return _lp_pool(ctx, p_float=False, ceil_dilations=False)


@converter("LpPool", since=18)
def _lp_pool_v18(ctx):  # ceil_mode and dilations
    return _lp_pool(ctx, p_float=False, ceil_dilations=True)


# -- Global pools ----------------------------------------------------------------------------
def _spatial_dims(ctx, x):
    rank = len(ctx.shape(x))
    if rank < 3:
        ctx.fail(f"input of shape {ctx.shape(x)} has no spatial dims (expected (N, C, ...))")
    return tuple(range(2, rank))


@converter("GlobalAveragePool")
def _global_avg_pool(ctx):
    x = ctx.graph_input(0, "X")
    dims = _spatial_dims(ctx, x)
    if len(dims) == 2:
        return ctx.op("global_avg_pool2d", x)  # the compiled engine's own node
    return ctx.op("mean", x, dims, True)


@converter("GlobalMaxPool")
def _global_max_pool(ctx):
    x = ctx.graph_input(0, "X")
    return ctx.op("amax", x, _spatial_dims(ctx, x), True)


def _global_lp_pool(ctx, p_float):
    x = ctx.graph_input(0, "X")
    p = _p(ctx, p_float)
    return _root(ctx, ctx.op("sum", _powered(ctx, x, p), _spatial_dims(ctx, x), True), p)


@converter("GlobalLpPool", since=1)
def _global_lp_pool_v1(ctx):  # p is a float attribute
    return _global_lp_pool(ctx, True)


@converter("GlobalLpPool", since=2)
def _global_lp_pool_v2(ctx):  # p is an int
    return _global_lp_pool(ctx, False)
