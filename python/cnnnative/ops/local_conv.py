"""Convolutions whose filters are not shared across all positions (Goodfellow, Bengio &
Courville, "Deep Learning", ch. 9.5):

- locally_connected2d: every output position has its own filter bank ("unshared
  convolution"). One small GEMM per position in C++ (cpp/src/local/), threaded over positions.
- tiled_conv2d: t_h*t_w filter banks cycling over the output positions, output (i, j) using
  bank (i mod t_h, j mod t_w). Built on the shared-weight conv2d kernels: the outputs of one
  tile phase (a, b) -- rows a, a + t_h, ..., columns b, b + t_w, ... -- are an ordinary
  convolution with stride (t_h*stride_h, t_w*stride_w) of the input shifted by (a*stride_h,
  b*stride_w), so each phase is one conv2d call and the phases interleave into the output.

Layouts (row-major, float32):
  locally_connected2d  weight (OH*OW, out_channels, in_channels*kH*kW): position p = oh*OW + ow,
                       its last axis a patch in torch.nn.functional.unfold's order (c, ki, kj);
                       bias (out_channels, OH, OW).
  tiled_conv2d         weight (t_h*t_w, out_channels, in_channels, kH, kW): bank a*t_w + b is a
                       Conv2d weight; bias (out_channels,), shared by all banks as in Conv2d.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from . import conv as _conv
from ._args import pair, padding4

__all__ = ["locally_connected2d", "tiled_conv2d"]


def _geometry(kernel_size, stride, padding):
    kernel, stride, padding = pair(kernel_size, "kernel_size"), pair(stride, "stride"), padding4(padding)
    for v in (*kernel, *stride, *padding):
        _conv._int64(v, "kernel_size, stride and padding")
    if min(kernel) <= 0 or min(stride) <= 0:
        raise ValueError(f"kernel_size and stride must be positive, got kernel_size={kernel}, stride={stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return kernel, stride, padding


def _array(a, name):
    """A required array argument (None is a TypeError naming it)."""
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    return _conv._real(a, name)


def _batched(x, name="input"):
    """(N, C, H, W) and whether the caller gave an unbatched (C, H, W) input."""
    x = _array(x, name)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W) or unbatched (C, H, W), got shape {tuple(x.shape)}")
    return x, False


# --- locally connected ------------------------------------------------------------------------

def locally_connected2d(input, weight, bias, kernel_size, stride=1, padding=0):
    """Locally connected (unshared) 2-D convolution: conv2d with a separate filter bank per
    output position.

    input (N, C, H, W) or unbatched (C, H, W); weight (OH*OW, K, C*kH*kW); bias (K, OH, OW)
    or None. kernel_size, stride: int or (h, w); padding: int, (h, w) or (top, bottom, left,
    right). Returns (N, K, OH, OW):
        out[n, k, oh, ow] = sum_{c,i,j} weight[oh*OW + ow, k, (c*kH + i)*kW + j]
                                        * padded_input[n, c, oh*sh + i, ow*sw + j] + bias[k, oh, ow]
    """
    kernel, stride, padding = _geometry(kernel_size, stride, padding)
    x, unbatched = _batched(input)
    y = _core.locally_connected2d(x, _array(weight, "weight"), _conv._real(bias, "bias"),
                                  kernel, stride, padding)
    return y[0] if unbatched else y


def _locally_connected2d_grads(x, w, g, kernel, stride, padding, need_input, need_weight):
    """(grad_input or None, grad_weight or None) from one pass over the positions."""
    return _core.locally_connected2d_backward(x, w, g, kernel, stride, padding, bool(need_input),
                                              bool(need_weight))


# --- tiled ------------------------------------------------------------------------------------

def _tile(tile_size):
    tile = pair(tile_size, "tile_size")
    if min(tile) < 1:
        raise ValueError(f"tile_size must be >= 1 in both dimensions, got {tile}")
    return tile


def _phase(size, kernel, stride, pad_before, pad_after, tile, a):
    """For output rows a, a + tile, ... (one tile phase along one axis): (count, first input
    index, last input index + 1, padding before, padding after) of the sub-convolution with
    stride tile*stride that computes them. count is 0 when the phase has no outputs."""
    out = (size + pad_before + pad_after - kernel) // stride + 1
    count = len(range(a, out, tile))
    if count == 0:
        return 0, 0, 0, 0, 0
    start = a * stride - pad_before                       # first input row the phase reads
    end = start + (count - 1) * tile * stride + kernel    # one past the last
    lo, hi = max(start, 0), min(end, size)
    return count, lo, hi, lo - start, end - hi


def _phases(x_shape, w_shape, tile, stride, padding):
    """Every tile phase with outputs: (bank, row slice, col slice, (top, bottom, left, right),
    output row slice, output col slice), and (OH, OW)."""
    _, _, h, w = x_shape
    kh, kw = w_shape[3], w_shape[4]
    top, bottom, left, right = padding
    oh = (h + top + bottom - kh) // stride[0] + 1
    ow = (w + left + right - kw) // stride[1] + 1
    if kh > h + top + bottom or kw > w + left + right:
        raise ValueError(f"kernel ({kh}, {kw}) does not fit the input ({h}, {w}) padded by {padding}")
    phases = []
    for a in range(tile[0]):
        rows, r0, r1, pt, pb = _phase(h, kh, stride[0], top, bottom, tile[0], a)
        for b in range(tile[1]):
            cols, c0, c1, pl, pr = _phase(w, kw, stride[1], left, right, tile[1], b)
            if rows and cols:
                phases.append((a * tile[1] + b, slice(r0, r1), slice(c0, c1), (pt, pb, pl, pr),
                               slice(a, None, tile[0]), slice(b, None, tile[1])))
    return phases, (oh, ow)


def _check_tiled(x, w, b, tile):
    if w.ndim != 5 or w.shape[0] != tile[0] * tile[1]:
        raise ValueError(f"weight must be (t_h*t_w, out_channels, in_channels, kH, kW) = ({tile[0] * tile[1]}, ...) "
                         f"for tile_size={tile}, got shape {tuple(w.shape)}")
    if x.shape[1] != w.shape[2]:
        raise ValueError(f"input has {x.shape[1]} channels but weight shape {tuple(w.shape)} expects {w.shape[2]}")
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ValueError(f"bias must have shape ({w.shape[1]},), got {tuple(b.shape)}")


def _tiled_geometry(tile_size, stride, padding):
    """tile (t_h, t_w), stride (h, w) and padding (top, bottom, left, right), checked."""
    tile, stride, padding = _tile(tile_size), pair(stride, "stride"), padding4(padding)
    if min(stride) < 1:
        raise ValueError(f"tiled_conv2d: stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"tiled_conv2d: padding must be >= 0, got {padding}")
    return tile, stride, padding


def tiled_conv2d(input, weight, bias, tile_size, stride=1, padding=0):
    """Tiled 2-D convolution: t_h*t_w filter banks, output (i, j) computed with bank
    (i mod t_h)*t_w + (j mod t_w). tile_size (1, 1) is conv2d.

    input (N, C, H, W) or unbatched (C, H, W); weight (t_h*t_w, K, C, kH, kW); bias (K,) or
    None. stride: int or (h, w); padding: int, (h, w) or (top, bottom, left, right).
    Returns (N, K, OH, OW), OH and OW as conv2d's.
    """
    tile, stride, padding = _tiled_geometry(tile_size, stride, padding)
    x, unbatched = _batched(input)
    w, b = _array(weight, "weight"), _conv._real(bias, "bias")
    _check_tiled(x, w, b, tile)
    y = _tiled_forward(x, w, b, tile, stride, padding)
    return y[0] if unbatched else y


def _tiled_forward(x, w, b, tile, stride, padding):
    if tile == (1, 1):  # one bank: exactly conv2d
        return _conv.conv2d(x, w[0], b, stride, padding)
    phases, (oh, ow) = _phases(x.shape, w.shape, tile, stride, padding)
    step = (tile[0] * stride[0], tile[1] * stride[1])
    y = np.empty((x.shape[0], w.shape[1], oh, ow), np.float32)
    for bank, rows, cols, pad, out_rows, out_cols in phases:
        y[:, :, out_rows, out_cols] = _conv.conv2d(x[:, :, rows, cols], w[bank], b, step, pad)
    return y


def _tiled_grads(x, w, g, tile, stride, padding, need_input, need_weight):
    """(grad_input or None, grad_weight or None): each phase's conv gradients."""
    if tile == (1, 1):
        return (_conv.conv2d_input(x.shape, w[0], g, stride, padding) if need_input else None,
                _conv.conv2d_weight(x, w.shape[1:], g, stride, padding)[None] if need_weight else None)
    phases, _ = _phases(x.shape, w.shape, tile, stride, padding)
    step = (tile[0] * stride[0], tile[1] * stride[1])
    gx = np.zeros(x.shape, np.float32) if need_input else None
    gw = np.zeros(w.shape, np.float32) if need_weight else None  # banks without outputs stay 0
    for bank, rows, cols, pad, out_rows, out_cols in phases:
        g_phase = np.ascontiguousarray(g[:, :, out_rows, out_cols])
        x_phase = x[:, :, rows, cols]
        if need_weight:
            gw[bank] = _conv.conv2d_weight(x_phase, w.shape[1:], g_phase, step, pad)
        if need_input:
            gx[:, :, rows, cols] += _conv.conv2d_input(x_phase.shape, w[bank], g_phase, step, pad)
    return gx, gw


# --- recording versions (autograd) ------------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("locally_connected2d")
def _locally_connected2d_recorded(input, weight, bias, kernel_size, stride=1, padding=0):
    kernel, stride, padding = _geometry(kernel_size, stride, padding)
    x, unbatched = _batched(_array_of(input))
    w = _array(_array_of(weight), "weight")
    y = _core.locally_connected2d(x, w, _conv._real(_array_of(bias), "bias"), kernel, stride, padding)

    def backward(g):
        g4 = g[None] if unbatched else g
        gx, gw = _locally_connected2d_grads(x, w, g4, kernel, stride, padding, _wants(input), _wants(weight))
        gb = g4.sum(axis=0, dtype=np.float64).astype(np.float32) if _wants(bias) else None
        if gx is not None and unbatched:
            gx = gx[0]
        return gx, gw, gb

    return _record(y[0] if unbatched else y, (input, weight, bias), backward, "locally_connected2d")


@_grad_rule("tiled_conv2d")
def _tiled_conv2d_recorded(input, weight, bias, tile_size, stride=1, padding=0):
    tile, stride, padding = _tiled_geometry(tile_size, stride, padding)
    x, unbatched = _batched(_array_of(input))
    w, b = _array(_array_of(weight), "weight"), _conv._real(_array_of(bias), "bias")
    _check_tiled(x, w, b, tile)
    y = _tiled_forward(x, w, b, tile, stride, padding)

    def backward(g):
        g4 = g[None] if unbatched else g
        gx, gw = _tiled_grads(x, w, g4, tile, stride, padding, _wants(input), _wants(weight))
        gb = _conv.conv2d_bias(g4) if _wants(bias) else None
        if gx is not None and unbatched:
            gx = gx[0]
        return gx, gw, gb

    return _record(y[0] if unbatched else y, (input, weight, bias), backward, "tiled_conv2d")
