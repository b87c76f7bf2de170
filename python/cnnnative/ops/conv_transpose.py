"""Transposed convolution (torch.nn.functional.conv_transpose1d/2d), "deconvolution".

conv_transpose2d(x, w) is the input gradient of the convolution conv2d(., w) whose output
has x's shape: every input pixel scatters its weighted kernel into the output. So the
forward runs conv2d_input (GEMM + col2im, or Winograd for 3x3 stride 1) and the backward
runs the convolution's forward (grad_input = conv2d(grad_out, w)) and its weight
gradient with the roles of input and gradient swapped (grad_weight =
conv2d_weight(grad_out, w.shape, x)). The weight layout is torch's
(in_channels, out_channels/groups, kH, kW), which is exactly the (K, C/groups, R, S) of
that convolution, so no weight is ever transposed or copied. conv_transpose1d runs the
same path on height-1 views.

Layers whose stride-s phases each read a 3x3 window of x with enough taps (DCGAN's 4x4
stride 2 padding 1) run the sub-pixel decomposition instead (C++ conv/conv_transpose_subpixel.h):
one 3x3 stride-1 convolution with s*s*C_out outputs on Winograd, interleaved into the
output; the input gradient is that convolution's input gradient, and the weight gradient
its Winograd weight gradient with the real taps gathered back (where there are enough
tiles). The stacked weight is never built: the Winograd filter transform gathers its
filters from the weight row block by row block.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from . import conv as _conv
from ._args import index, pair
from .conv1d import single

__all__ = ["conv_transpose2d", "conv_transpose1d"]

_INT64_MAX = 2 ** 63 - 1


class _Plan:
    """The convolution whose input gradient this transposed convolution is.

    conv_size: (N, C_out, OH, OW), the transposed output (the convolution's input);
    geometry: conv2d's (stride, padding, dilation, groups);
    extra: rows/columns of zeros appended to x. torch allows output_padding >= stride when
    it is below the dilation; the convolution of an (OH, OW) image then has more output
    rows than x, and the rows x lacks contribute nothing (they are zero)."""

    __slots__ = ("conv_size", "geometry", "extra", "batched")

    def __init__(self, conv_size, geometry, extra, batched):
        self.conv_size, self.geometry, self.extra, self.batched = conv_size, geometry, extra, batched

    def padded(self, x4):
        """x with the zero rows/columns the convolution's output has beyond it."""
        eh, ew = self.extra
        if eh == 0 and ew == 0:
            return x4
        return np.pad(np.asarray(x4, dtype=np.float32), ((0, 0), (0, 0), (0, eh), (0, ew)))

    def cropped(self, g4):
        """The convolution's output (the input gradient) without those extra rows."""
        eh, ew = self.extra
        if eh == 0 and ew == 0:
            return g4
        return np.ascontiguousarray(g4[:, :, :g4.shape[2] - eh, :g4.shape[3] - ew])


def output_size(in_size, kernel, stride, padding, dilation, output_padding):
    """torch's output length: (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1."""
    return (in_size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def plan(x_shape, w_shape, stride, padding, output_padding, groups, dilation, dims="2d"):
    """Check a 4-D problem (the 1-D one already as height-1 views) and plan it.

    stride, padding, output_padding, dilation: pairs (h, w); groups: int. `dims` only
    words the messages ("1d" speaks of L and kernel length)."""
    n, c_in, h, w = x_shape
    if len(w_shape) != 4:
        raise ValueError(f"weight must be (in_channels, out_channels/groups, kH, kW), got shape {tuple(w_shape)}")
    if groups <= 0:
        raise ValueError(f"groups must be positive, got {groups}")
    if min(stride) <= 0 or min(dilation) <= 0:
        raise ValueError(f"stride and dilation must be positive, got stride={_show(stride, dims)}, "
                         f"dilation={_show(dilation, dims)}")
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"padding and output_padding must be >= 0, got padding={_show(padding, dims)}, "
                         f"output_padding={_show(output_padding, dims)}")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={_show(output_padding, dims)}, stride={_show(stride, dims)}, "
                             f"dilation={_show(dilation, dims)}")
    if w_shape[0] != c_in or c_in % groups:
        raise ValueError(f"input has {c_in} channels and weight shape {tuple(w_shape)} with groups={groups}: "
                         f"need weight.shape[0] == in_channels, divisible by groups")
    if min(w_shape[1:]) <= 0:
        raise ValueError(f"weight shape {tuple(w_shape)} has an empty dimension")
    if h <= 0 or w <= 0:
        raise ValueError(f"input spatial size must be positive, got {_show((h, w), dims)}")
    c_out = w_shape[1] * groups
    oh = output_size(h, w_shape[2], stride[0], padding[0], dilation[0], output_padding[0])
    ow = output_size(w, w_shape[3], stride[1], padding[1], dilation[1], output_padding[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"output size would be {_show((oh, ow), dims)} (input {_show((h, w), dims)}, "
                         f"kernel {_show(tuple(w_shape[2:]), dims)}, stride {_show(stride, dims)}, "
                         f"padding {_show(padding, dims)}, dilation {_show(dilation, dims)}, "
                         f"output_padding {_show(output_padding, dims)}): it must be positive")
    total = max(n, 1) * c_out * oh * ow
    if total > _INT64_MAX or max(oh, ow) > _INT64_MAX:
        raise OverflowError(f"output ({n}, {c_out}, {oh}, {ow}) has more elements than int64 can count")
    extra = (output_padding[0] // stride[0], output_padding[1] // stride[1])
    geometry = (tuple(stride), (padding[0], padding[0], padding[1], padding[1]), tuple(dilation), groups)
    return _Plan((n, c_out, oh, ow), geometry, extra, True)


def _show(p, dims):
    return p[1] if dims == "1d" else tuple(p)


def _checked_2d(input, weight, bias, stride, padding, output_padding, groups, dilation):
    x, w, b = _conv._real(input, "input"), _conv._real(weight, "weight"), _conv._real(bias, "bias")
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be (N, C, H, W) or unbatched (C, H, W), got shape {tuple(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"weight must be (in_channels, out_channels/groups, kH, kW), got shape {tuple(w.shape)}")
    x4 = x if x.ndim == 4 else x[None]
    p = plan(x4.shape, w.shape, pair(stride, "stride"), pair(padding, "padding"),
             pair(output_padding, "output_padding"), index(groups, "groups"), pair(dilation, "dilation"))
    p.batched = x.ndim == 4
    _check_bias(b, p.conv_size[1])
    return x4, w, b, p


def _checked_1d(input, weight, bias, stride, padding, output_padding, groups, dilation):
    x, w, b = _conv._real(input, "input"), _conv._real(weight, "weight"), _conv._real(bias, "bias")
    if x.ndim not in (2, 3):
        raise ValueError(f"input must be (N, C, L) or unbatched (C, L), got shape {tuple(x.shape)}")
    if w.ndim != 3:
        raise ValueError(f"weight must be (in_channels, out_channels/groups, kernel), got shape {tuple(w.shape)}")
    x4 = x[None, :, None, :] if x.ndim == 2 else x[:, :, None, :]
    p = plan(x4.shape, (*w.shape[:2], 1, w.shape[2]), (1, single(stride, "stride")), (0, single(padding, "padding")),
             (0, single(output_padding, "output_padding")), index(groups, "groups"),
             (1, single(dilation, "dilation")), dims="1d")
    p.batched = x.ndim == 3
    _check_bias(b, p.conv_size[1])
    return x4, w[:, :, None, :], b, p


def _check_bias(b, c_out):
    if b is not None and (b.ndim != 1 or b.shape[0] != c_out):
        raise ValueError(f"bias must have shape ({c_out},) (out_channels), got {tuple(b.shape)}")


class _Gathered:
    """Marks the sub-pixel path: its stacked 3x3 filters are gathered from the weight
    inside the Winograd filter transform (C++ conv/winograd_gather.h), never built."""

    def __repr__(self):
        return "<stacked weight gathered in C++>"


_GATHERED = _Gathered()


def _stacked_weight(w4, p, for_input_gradient):
    """_GATHERED where the sub-pixel path runs this pass, None where GEMM + col2im runs."""
    if p.conv_size[0] == 0:
        return None
    stride, padding, dilation, groups = p.geometry
    if _core.conv_transpose_subpixel_preferred(np.asarray(w4, dtype=np.float32), p.conv_size, stride, padding,
                                               dilation, groups, for_input_gradient):
        return _GATHERED
    return None


def _forward(x4, w4, b, p, wsub=None):
    if wsub is not None:
        # a NaN or inf in the weight is found in C++ (it then runs GEMM + col2im); the bias
        # is added while the phases interleave
        bias = None if b is None else np.ascontiguousarray(b, dtype=np.float32)
        return _core.conv_transpose_subpixel(np.asarray(p.padded(x4), dtype=np.float32), w4, None, p.conv_size,
                                             *p.geometry, bias=bias)
    y = _conv.conv2d_input(p.conv_size, w4, p.padded(x4), *p.geometry)
    if b is not None:
        y += np.asarray(b, dtype=np.float32)[:, None, None]  # y is fresh: add in place
    return y


def _shaped(y4, p, one_d):
    """The 4-D result as the caller's rank: drop the height of 1-D, the batch of unbatched."""
    if one_d:
        y4 = y4.reshape(y4.shape[0], y4.shape[1], y4.shape[3])
    return y4 if p.batched else y4[0]


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, as torch.nn.functional.conv_transpose2d.

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_in, C_out/groups, kH, kW);
    bias (C_out,) or None. stride, padding, output_padding, dilation: int or (h, w);
    output_padding (added on the bottom/right) must be below stride or dilation.
    Returns (N, C_out, OH, OW), OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1.
    """
    x4, w, b, p = _checked_2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _shaped(_forward(x4, w, b, p, _stacked_weight(w, p, False)), p, False)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution, as torch.nn.functional.conv_transpose1d.

    input (N, C_in, L) or unbatched (C_in, L); weight (C_in, C_out/groups, kernel); bias
    (C_out,) or None. Returns (N, C_out, OL), OL = (L-1)*stride - 2*padding +
    dilation*(kernel-1) + output_padding + 1. Runs the 2-D path on height-1 views.
    """
    x4, w4, b, p = _checked_1d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _shaped(_forward(x4, w4, b, p), p, True)


def output_padding_for(output_size, input_shape, kernel_size, stride, padding, dilation, spatial_dims, layer):
    """torch's _ConvTransposeNd._output_padding: the output_padding that makes the output
    exactly `output_size` ((*spatial) or with the leading (N, C) / (C,) dims). A size
    outside [minimum, minimum + stride - 1] per dim cannot be reached: ValueError."""
    sizes = tuple(index(s, "output_size") for s in (
        output_size if isinstance(output_size, (tuple, list)) else _iter_sizes(output_size)))
    leading = len(input_shape) - spatial_dims
    if len(sizes) == leading + spatial_dims:
        sizes = sizes[leading:]
    if len(sizes) != spatial_dims:
        raise ValueError(f"{layer}: for {len(input_shape)}-D input, output_size must have {spatial_dims} "
                         f"or {leading + spatial_dims} elements (got {len(sizes)}: {output_size!r})")
    spatial = input_shape[leading:]
    smallest = [output_size_of(spatial[d], kernel_size[d], stride[d], padding[d], dilation[d])
                for d in range(spatial_dims)]
    largest = [smallest[d] + stride[d] - 1 for d in range(spatial_dims)]
    for d in range(spatial_dims):
        if not smallest[d] <= sizes[d] <= largest[d]:
            raise ValueError(f"{layer}: requested an output size of {list(sizes)}, but valid sizes range "
                             f"from {smallest} to {largest} (for an input of {list(spatial)})")
    return tuple(sizes[d] - smallest[d] for d in range(spatial_dims))


def output_size_of(in_size, kernel, stride, padding, dilation):
    return output_size(in_size, kernel, stride, padding, dilation, 0)


def _iter_sizes(value):
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return tuple(value)
    raise ValueError(f"output_size must be a sequence of ints, got {type(value).__name__} {value!r}")


# --- recording version (autograd) -----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _recorded(name, checked, one_d):
    def rule(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        x4, w4, b, p = checked(_array_of(input), _array_of(weight), _array_of(bias), stride, padding,
                               output_padding, groups, dilation)
        wsub = _stacked_weight(w4, p, False)
        y4 = _forward(x4, w4, b, p, wsub)
        y = _shaped(y4, p, one_d)
        x_shape, w_shape, y4_shape = _array_of(input).shape, _array_of(weight).shape, y4.shape

        def backward(g):
            g4 = np.ascontiguousarray(g, dtype=np.float32).reshape(y4_shape)
            gx = gw = gb = None
            if _wants(input):  # the convolution's forward (or the stacked one's input gradient)
                ws = wsub if wsub is not None else _stacked_weight(w4, p, True)
                if ws is not None:
                    gx4 = _core.conv_transpose_subpixel_input_grad(g4, w4, None, *p.geometry)
                else:
                    gx4 = _conv.conv2d(g4, w4, None, *p.geometry)
                gx = p.cropped(gx4).reshape(x_shape)
            if _wants(weight):  # its weight gradient, grad_out as the image and x as the gradient
                xp = p.padded(x4)
                gw4 = None
                if p.conv_size[0] > 0:  # the stacked Winograd weight gradient, where it pays
                    gw4 = _core.conv_transpose_subpixel_weight_grad(g4, np.asarray(xp, dtype=np.float32),
                                                                    tuple(w4.shape), *p.geometry)
                if gw4 is None:
                    gw4 = _conv.conv2d_weight(g4, w4.shape, xp, *p.geometry)
                gw = gw4.reshape(w_shape)
            if _wants(bias):
                gb = _conv.conv2d_bias(g4)
            return gx, gw, gb

        return _record(y, (input, weight, bias), backward, name)

    rule.__name__ = f"_{name}_recorded"
    return _grad_rule(name)(rule)


_recorded("conv_transpose2d", _checked_2d, False)
_recorded("conv_transpose1d", _checked_1d, True)
