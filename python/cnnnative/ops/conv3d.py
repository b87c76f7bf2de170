"""3-D convolution (torch.nn.functional.conv3d / conv_transpose3d) over NCDHW volumes.

The C++ core runs vol2col + the packed SGEMM for every shape, a direct kernel for
depthwise layers (groups == in_channels == out_channels), and on AVX-512 and AVX2 a direct
kernel for >= 32 output channels per group (the C3D block); both passes of the gradient too.
The transposed convolution is the convolution's input gradient, and its gradients are
the convolution's forward and weight gradient: no kernel of its own.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import _items, index
from .conv import _int64, _real

__all__ = ["conv3d", "conv3d_input", "conv3d_weight", "conv3d_bias", "conv_transpose3d"]

_AXES = ("depth", "height", "width")


def triple(value, name):
    """An int or a 3-tuple of ints -> (d, h, w)."""
    if isinstance(value, (tuple, list)):
        items = _items(value, name, "an int or a 3-tuple of ints")
        if len(items) != 3:
            raise ValueError(f"{name} must be an int or a 3-tuple of ints, got {value!r}")
        return tuple(_int64(v, name) for v in items)
    v = _int64(index(value, name), name)
    return v, v, v


def padding6(padding, kernel, stride, dilation):
    """(front, back, top, bottom, left, right) zero padding from an int, a 3-tuple,
    'valid' or 'same' (stride 1; an odd total puts the extra one at the end, as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * 6
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride 1, got stride={tuple(stride)}")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        raise ValueError(f"padding must be an int, a 3-tuple, 'same' or 'valid', got {padding!r}")
    p = triple(padding, "padding")
    if min(p) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return p[0], p[0], p[1], p[1], p[2], p[2]


def _geometry(x_shape, w_shape, stride, padding, dilation, groups):
    """(stride, padding6, dilation, groups), checked against the input and weight shapes
    so errors name the arguments and sizes."""
    if len(w_shape) != 5:
        raise ValueError(f"weight must be (out_channels, in_channels/groups, kD, kH, kW), "
                         f"got shape {tuple(w_shape)}")
    stride, dilation = triple(stride, "stride"), triple(dilation, "dilation")
    groups = _int64(index(groups, "groups"), "groups")
    if min(stride) <= 0 or min(dilation) <= 0 or groups <= 0:
        raise ValueError(f"stride, dilation and groups must be positive, got stride={stride}, "
                         f"dilation={dilation}, groups={groups}")
    pad = padding6(padding, w_shape[2:], stride, dilation)
    channels = x_shape[1]
    if w_shape[0] % groups or channels != w_shape[1] * groups:
        raise ValueError(f"input has {channels} channels and weight shape {tuple(w_shape)} with "
                         f"groups={groups}: need in_channels == weight.shape[1]*groups and "
                         f"out_channels divisible by groups")
    for i, axis in enumerate(_AXES):
        size, k = x_shape[2 + i], w_shape[2 + i]
        if k <= 0 or size + pad[2 * i] + pad[2 * i + 1] < dilation[i] * (k - 1) + 1:
            raise ValueError(f"kernel {axis} {k} (dilation {dilation[i]}) does not fit the input "
                             f"{axis} {size} padded by {pad[2 * i:2 * i + 2]}")
    return stride, pad, dilation, groups


def _array(a, name):
    """A required array argument: None is a TypeError naming it; dtypes as conv2d's."""
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    return _real(a, name)


def _batched(x):
    if x.ndim == 4:
        return x[None]
    if x.ndim != 5:
        raise ValueError(f"input must be (N, C, D, H, W) or unbatched (C, D, H, W), got shape {tuple(x.shape)}")
    return x


def _weight(w):
    w = _array(w, "weight")
    if w.ndim != 5:
        raise ValueError(f"weight must be 5-D (out_channels, in_channels/groups, kD, kH, kW), "
                         f"got shape {tuple(w.shape)}")
    return w


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    """3-D convolution (cross-correlation), as torch.nn.functional.conv3d.

    input (N, C, D, H, W) or unbatched (C, D, H, W); weight (K, C/groups, kD, kH, kW);
    bias (K,) or None. stride, dilation: int or 3-tuple; padding: int, 3-tuple, 'valid'
    or 'same' (stride 1). algo: 'auto', 'gemm' (vol2col + GEMM), 'direct' (the direct
    AVX-512 or AVX2 kernel for >= 32 output channels per group, which 'auto' picks there;
    vol2col + GEMM where it does not apply, e.g. on the scalar ISA) or 'depthwise' (direct
    kernel, groups == C == K only).
    The same names select the gradients' algorithms. Returns (N, K, OD, OH, OW) (or
    unbatched).
    """
    x, w = _array(input, "input"), _weight(weight)
    x5 = _batched(x)
    geometry = _geometry(x5.shape, w.shape, stride, padding, dilation, groups)
    y = _core.conv3d(x5, w, _real(bias, "bias"), *geometry, algo)
    return y[0] if x.ndim == 4 else y


def _size5(value, name, dims):
    items = _items(value, name, f"a 5-tuple {dims}")
    if len(items) != 5:
        raise ValueError(f"{name} must be a 5-tuple {dims}, got {value!r}")
    return tuple(_int64(v, name) for v in items)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                 algo="auto"):
    """Gradient of conv3d with respect to its input (torch.nn.grad.conv3d_input):
    input_size (N, C, D, H, W), weight (K, C/groups, kD, kH, kW), grad_output
    (N, K, OD, OH, OW) -> (N, C, D, H, W)."""
    size, w = _size5(input_size, "input_size", "(N, C, D, H, W)"), _weight(weight)
    geometry = _geometry(size, w.shape, stride, padding, dilation, groups)
    return _core.conv3d_input(size, w, _array(grad_output, "grad_output"), *geometry, algo)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                  with_bias=False, algo="auto"):
    """Gradient of conv3d with respect to its weight (torch.nn.grad.conv3d_weight):
    input (N, C, D, H, W), weight_size (K, C/groups, kD, kH, kW), grad_output
    (N, K, OD, OH, OW) -> (K, C/groups, kD, kH, kW); with_bias=True returns
    (grad_weight, grad_bias) from the same call."""
    x = _batched(_array(input, "input"))
    size = _size5(weight_size, "weight_size", "(K, C/groups, kD, kH, kW)")
    geometry = _geometry(x.shape, size, stride, padding, dilation, groups)
    gw, gb = _core.conv3d_weight(x, size, _array(grad_output, "grad_output"), *geometry, bool(with_bias), algo)
    return (gw, gb) if with_bias else gw


def conv3d_bias(grad_output):
    """Gradient of conv3d with respect to its bias: grad_output summed over N, OD, OH, OW."""
    g = _array(grad_output, "grad_output")
    if g.ndim != 5:
        raise ValueError(f"grad_output must be 5-D, got shape {g.shape}")
    return g.sum(axis=(0, 2, 3, 4), dtype=np.float64).astype(np.float32)


# --- transposed convolution ------------------------------------------------------------------

def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, groups, dilation):
    """The convolution whose input gradient is this transposed convolution: its geometry
    (padding (p, p - op) per axis: the op extra rows at the end are reached by the kernel,
    or, where op > p, lie past every tap and stay zero), the convolution's input size,
    and how many such zero rows to append per axis."""
    if len(w_shape) != 5:
        raise ValueError(f"weight must be (in_channels, out_channels/groups, kD, kH, kW), "
                         f"got shape {tuple(w_shape)}")
    stride, dilation = triple(stride, "stride"), triple(dilation, "dilation")
    pad, out_pad = triple(padding, "padding"), triple(output_padding, "output_padding")
    groups = _int64(index(groups, "groups"), "groups")
    if min(stride) <= 0 or min(dilation) <= 0 or groups <= 0:
        raise ValueError(f"stride, dilation and groups must be positive, got stride={stride}, "
                         f"dilation={dilation}, groups={groups}")
    if min(pad) < 0 or min(out_pad) < 0:
        raise ValueError(f"padding and output_padding must be >= 0, got padding={pad}, output_padding={out_pad}")
    for op, s, d in zip(out_pad, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={out_pad}, stride={stride}, dilation={dilation}")
    if x_shape[1] != w_shape[0] or w_shape[0] % groups:
        raise ValueError(f"input has {x_shape[1]} channels but weight shape {tuple(w_shape)} with "
                         f"groups={groups} needs weight.shape[0] == in_channels, divisible by groups")
    out, conv_size, extra, pad6 = [], [], [], []
    for i, axis in enumerate(_AXES):
        k = w_shape[2 + i]
        o = (x_shape[2 + i] - 1) * stride[i] - 2 * pad[i] + dilation[i] * (k - 1) + out_pad[i] + 1
        if o <= 0 or k <= 0:
            raise ValueError(f"conv_transpose3d output {axis} would be {o} (input {axis} "
                             f"{x_shape[2 + i]}, kernel {k}, stride {stride[i]}, padding {pad[i]}, "
                             f"dilation {dilation[i]}, output_padding {out_pad[i]})")
        zero_rows = max(0, out_pad[i] - pad[i])
        out.append(o)
        conv_size.append(o - zero_rows)
        extra.append(zero_rows)
        pad6 += [pad[i], max(0, pad[i] - out_pad[i])]
    conv_input = (x_shape[0], w_shape[1] * groups, *conv_size)
    return (stride, tuple(pad6), dilation, groups), conv_input, tuple(extra)


def _with_zero_rows(y, extra):
    if not any(extra):
        return y
    return np.pad(y, ((0, 0), (0, 0)) + tuple((0, e) for e in extra))


def _without_zero_rows(g, extra):
    if not any(extra):
        return g
    d, h, w = g.shape[2:]
    return np.ascontiguousarray(g[:, :, :d - extra[0], :h - extra[1], :w - extra[2]])


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 3-D convolution, as torch.nn.functional.conv_transpose3d.

    input (N, C_in, D, H, W) or unbatched; weight (C_in, C_out/groups, kD, kH, kW); bias
    (C_out,) or None. Output size per axis: (D-1)*stride - 2*padding + dilation*(k-1)
    + output_padding + 1. Runs the convolution's input-gradient path.
    """
    x, w = _array(input, "input"), _weight(weight)
    x5 = _batched(x)
    geometry, conv_input, extra = _transpose_geometry(x5.shape, w.shape, stride, padding,
                                                      output_padding, groups, dilation)
    y = _with_zero_rows(_core.conv3d_input(conv_input, w, x5, *geometry, "auto"), extra)
    if bias is not None:
        b = _real(bias, "bias")
        if b.shape != (y.shape[1],):
            raise ValueError(f"bias must have shape ({y.shape[1]},), got {tuple(b.shape)}")
        y += b.astype(np.float32, copy=False)[:, None, None, None]
    return y[0] if x.ndim == 4 else y


# --- recording versions (autograd) ------------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("conv3d")
def _conv3d_recorded(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    x, w = _array(_array_of(input), "input"), _weight(_array_of(weight))
    x5 = _batched(x)
    geometry = _geometry(x5.shape, w.shape, stride, padding, dilation, groups)
    y = _core.conv3d(x5, w, _real(_array_of(bias), "bias"), *geometry, algo)

    def backward(g):
        g5 = g.reshape(y.shape)
        gx = gw = gb = None
        if _wants(weight):
            gw, gb = _core.conv3d_weight(x5, w.shape, g5, *geometry, _wants(bias), algo)
        elif _wants(bias):
            gb = conv3d_bias(g5)
        if _wants(input):
            gx = _core.conv3d_input(x5.shape, w, g5, *geometry, algo).reshape(x.shape)
        return gx, gw, gb

    return _record(y[0] if x.ndim == 4 else y, (input, weight, bias), backward, "conv3d")


@_grad_rule("conv_transpose3d")
def _conv_transpose3d_recorded(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                               groups=1, dilation=1):
    x, w = _array(_array_of(input), "input"), _weight(_array_of(weight))
    x5 = _batched(x)
    geometry, conv_input, extra = _transpose_geometry(x5.shape, w.shape, stride, padding,
                                                      output_padding, groups, dilation)
    y = conv_transpose3d(x, w, _array_of(bias), stride, padding, output_padding, groups, dilation)
    y_shape = y.shape

    def backward(g):
        # The convolution's view: g (cropped of the zero rows) is its input, x its output.
        g5 = _without_zero_rows(np.ascontiguousarray(g, dtype=np.float32).reshape((x5.shape[0],) + y_shape[-4:]), extra)
        gx = gw = gb = None
        if _wants(input):
            gx = _core.conv3d(g5, w, None, *geometry, "auto").reshape(x.shape)
        if _wants(weight):
            gw, _ = _core.conv3d_weight(g5, w.shape, x5, *geometry, False, "auto")
        if _wants(bias):
            gb = g.reshape((-1,) + y_shape[-4:]).sum(axis=(0, 2, 3, 4), dtype=np.float64).astype(np.float32)
        return gx, gw, gb

    return _record(y, (input, weight, bias), backward, "conv_transpose3d")
