"""Convolution: forward and both gradients, NCHW float32 with OIHW weights (as PyTorch)."""
from __future__ import annotations

import functools

import numpy as np

from .. import _core
from ._args import _items, index, pair, padding4

__all__ = ["conv2d", "conv2d_input", "conv2d_weight", "conv2d_bias", "conv_algorithms"]


_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _int64(value, name):
    if not _INT64[0] <= value <= _INT64[1]:
        raise OverflowError(f"{name} value {value} does not fit in int64")
    return value


def _size4(value, name):
    items = _items(value, name, "a 4-tuple (N, C, H, W)")
    if len(items) != 4:
        raise ValueError(f"{name} must be a 4-tuple, got {value!r}")
    return tuple(_int64(v, name) for v in items)


def _real(a, name):
    """Arrays go to the core as float32; refuse dtypes that cannot convert without loss of
    meaning (complex, strings, objects, datetimes) with a TypeError naming the argument."""
    if a is None:
        return None
    kind = getattr(getattr(a, "dtype", None), "kind", None)
    if kind is None:
        a = np.asarray(a)
        kind = a.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array (float32 preferred), got dtype {a.dtype}")
    return a


def _geometry(stride, padding, dilation, groups):
    """(stride pair, (top, bottom, left, right), dilation pair, groups), range-checked.

    Layers pass the same few geometries on every call, and normalising them costs about
    2 us -- a tenth of a small depthwise layer -- so results for plain ints and tuples of
    ints are memoised. Anything else (lists, numpy integers, floats, which must keep failing
    even though 1.0 == 1 as a cache key) takes the full path every time."""
    if _plain(stride) and _plain(padding) and _plain(dilation) and type(groups) is int:
        return _geometry_cached(stride, padding, dilation, groups)
    return _normalise_geometry(stride, padding, dilation, groups)


def _plain(value):
    return type(value) is int or (type(value) is tuple and all(type(v) is int for v in value))


def _normalise_geometry(stride, padding, dilation, groups):
    s = tuple(_int64(v, "stride") for v in pair(stride, "stride"))
    p = tuple(_int64(v, "padding") for v in padding4(padding))
    d = tuple(_int64(v, "dilation") for v in pair(dilation, "dilation"))
    return s, p, d, _int64(index(groups, "groups"), "groups")


_geometry_cached = functools.lru_cache(maxsize=256)(_normalise_geometry)


def string_padding(padding, kernel_size, stride, dilation):
    """torch's padding='valid' | 'same' as [(before, after), ...] per spatial dimension.
    'same' (stride 1 only, as torch) pads dilation*(k-1) in all, the odd one after (at the
    bottom / right), which is what torch does for even kernels."""
    dims = len(kernel_size)
    strides = (stride,) * dims if isinstance(stride, int) else tuple(stride)
    dilations = (dilation,) * dims if isinstance(dilation, int) else tuple(dilation)
    if padding == "valid":
        return [(0, 0)] * dims
    if padding != "same":
        raise ValueError(f"padding must be an int, a tuple of ints, 'same' or 'valid', got {padding!r}")
    if any(s != 1 for s in strides):
        raise ValueError(f"padding='same' is not supported for strided convolutions (stride={stride})")
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilations)]
    return [(t // 2, t - t // 2) for t in totals]


def _same_or_valid(padding, weight, stride, dilation):
    """conv2d's (top, bottom, left, right) for a padding string, from the weight's kernel."""
    (top, bottom), (left, right) = string_padding(padding, tuple(weight.shape[2:4]), pair(stride, "stride"),
                                                  pair(dilation, "dilation"))
    return top, bottom, left, right


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    """2-D convolution (cross-correlation, as torch.nn.functional.conv2d).

    input (N, C, H, W); weight (K, C/groups, R, S); bias (K,) or None.
    stride, dilation: int or (h, w); padding: int, (h, w), (top, bottom, left, right), or
    'valid' / 'same' (stride 1; an even kernel pads one more at the bottom / right, as torch).
    algo: "auto" or a name from conv_algorithms() ("im2col", ...); a name that does not
    exist or cannot run this shape is a ValueError saying why.
    Returns (N, K, OH, OW) with OH = (H + top + bottom - dilation_h*(R-1) - 1)//stride_h + 1.
    """
    input, weight, bias = _real(input, "input"), _real(weight, "weight"), _real(bias, "bias")
    if isinstance(padding, str):
        if weight.ndim != 4:
            raise ValueError(f"weight must be (K, C/groups, R, S), got shape {tuple(weight.shape)}")
        padding = _same_or_valid(padding, weight, stride, dilation)
    return _core.conv2d(input, weight, bias, *_geometry(stride, padding, dilation, groups), str(algo))


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                 algo="auto"):
    """Gradient of conv2d with respect to its input (torch.nn.grad.conv2d_input).

    input_size (N, C, H, W); weight (K, C/groups, R, S); grad_output (N, K, OH, OW).
    Returns (N, C, H, W).
    """
    weight, grad_output = _real(weight, "weight"), _real(grad_output, "grad_output")
    return _core.conv2d_input(_size4(input_size, "input_size"), weight, grad_output,
                              *_geometry(stride, padding, dilation, groups), str(algo))


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                  with_bias=False):
    """Gradient of conv2d with respect to its weight (torch.nn.grad.conv2d_weight).

    input (N, C, H, W); weight_size (K, C/groups, R, S); grad_output (N, K, OH, OW).
    Returns (K, C/groups, R, S); with with_bias=True returns (grad_weight, grad_bias (K,))
    from the same pass. An empty batch gives zeros.
    """
    input, grad_output = _real(input, "input"), _real(grad_output, "grad_output")
    dw, db = _core.conv2d_weight(input, _size4(weight_size, "weight_size"), grad_output,
                                 *_geometry(stride, padding, dilation, groups), bool(with_bias))
    return (dw, db) if with_bias else dw


def conv2d_bias(grad_output):
    """Gradient of conv2d with respect to its bias: grad_output (N, K, OH, OW) summed
    over N, OH, OW -> (K,)."""
    g = np.ascontiguousarray(_real(grad_output, "grad_output"), dtype=np.float32)
    if g.ndim != 4:
        raise ValueError(f"grad_output must be 4-D, got shape {g.shape}")
    return g.sum(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)


def conv_algorithms(input_size, weight_size, stride=1, padding=0, dilation=1, groups=1) -> dict:
    """Which algorithms can run this convolution: {name: {supported, reason,
    backward_input, workspace_bytes}, ..., "auto": the name auto would choose}."""
    return _core.conv_algorithm_support(_size4(input_size, "input_size"),
                                        _size4(weight_size, "weight_size"),
                                        *_geometry(stride, padding, dilation, groups))


# --- recording version (autograd) -----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _saved(a, name):
    """An argument as the backward keeps it: GPU arrays as they are, host ones checked."""
    a = _array_of(a)
    return a if type(a).__module__ == "cnnnative._cuda" else _real(a, name)


@_grad_rule("conv2d")
def _conv2d_recorded(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    x, w = _saved(input, "input"), _saved(weight, "weight")
    if isinstance(padding, str) and w.ndim == 4:  # resolved once, for the gradients too
        padding = _same_or_valid(padding, w, stride, dilation)
    y = conv2d(x, w, _array_of(bias), stride, padding, dilation, groups, algo=algo)
    geometry = (stride, padding, dilation, groups)

    def backward(g):
        gw = gb = gx = None
        if _wants(weight):
            # The bias gradient comes out of the same pass over grad_output.
            if _wants(bias):
                gw, gb = conv2d_weight(x, w.shape, g, *geometry, with_bias=True)
            else:
                gw = conv2d_weight(x, w.shape, g, *geometry)
        elif _wants(bias):
            gb = conv2d_bias(g)
        if _wants(input):
            gx = conv2d_input(x.shape, w, g, *geometry)
        return gx, gw, gb

    return _record(y, (input, weight, bias), backward, "conv2d")
