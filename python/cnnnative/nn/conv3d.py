"""Conv3d and ConvTranspose3d: volume convolution layers over (N, C, D, H, W), ops.conv3d /
ops.conv_transpose3d on their weight and bias (autograd records them). Parameter names,
shapes and default initialisation are torch's, so state_dicts move across."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops.conv3d import padding6, triple
from ._util import as_input, conv_out, positive, weights_for
from .conv import _init_conv_parameters, _padded_for_mode, _padding_mode
from . import init
from .module import Module, Parameter

__all__ = ["Conv3d", "ConvTranspose3d"]


def _positive_triple(value, name):
    t = triple(value, name)
    if min(t) <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return t


def _check_groups(layer, in_channels, out_channels, groups):
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{type(layer).__name__}: in_channels ({in_channels}) and out_channels "
                         f"({out_channels}) must both be divisible by groups ({groups})")


def _zeros_only(layer_name, padding_mode):
    # As torch: a transposed convolution pads only with zeros.
    if padding_mode != "zeros":
        raise ValueError(f"{layer_name} padding_mode must be 'zeros' (as torch, a transposed convolution "
                         f"has no other padding mode), got {padding_mode!r}")
    return padding_mode


def _repr(layer, transposed=False):
    s = (f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
         f"stride={layer.stride}")
    if layer.padding not in ((0, 0, 0), "valid"):
        s += f", padding={layer.padding!r}"
    if transposed and layer.output_padding != (0, 0, 0):
        s += f", output_padding={layer.output_padding}"
    if layer.dilation != (1, 1, 1):
        s += f", dilation={layer.dilation}"
    if layer.groups != 1:
        s += f", groups={layer.groups}"
    if layer.bias is None:
        s += ", bias=False"
    return s


def _channels_check(layer, x):
    if x.shape[-4] != layer.in_channels:
        raise ValueError(f"{layer!r}: input has {x.shape[-4]} channels, expected "
                         f"{layer.in_channels} (input shape {tuple(x.shape)})")


class Conv3d(Module):
    """torch.nn.Conv3d: input (N, in_channels, D, H, W) or (in_channels, D, H, W) ->
    (N, out_channels, OD, OH, OW).

    weight (out_channels, in_channels/groups, kD, kH, kW), bias (out_channels,);
    initialised as PyTorch does. padding: int, 3-tuple, 'same' or 'valid';
    padding_mode: 'zeros', 'reflect', 'replicate' or 'circular' (the input is padded in that
    mode, then convolved with padding 0, as torch). Runs vol2col + GEMM, or the direct depthwise kernel when
    groups == in_channels == out_channels.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = _positive_triple(kernel_size, "kernel_size")
        self.stride = _positive_triple(stride, "stride")
        self.dilation = _positive_triple(dilation, "dilation")
        self.groups = positive(groups, "groups")
        self.padding_mode = _padding_mode(padding_mode, "Conv3d")
        padding6(padding, self.kernel_size, self.stride, self.dilation)  # validates
        # Strings stay as given (torch's repr and state); numbers become a 3-tuple.
        self.padding = padding if isinstance(padding, str) else triple(padding, "padding")
        _check_groups(self, self.in_channels, self.out_channels, self.groups)
        _init_conv_parameters(self, (self.out_channels, self.in_channels // self.groups) + self.kernel_size,
                              bias, rng, "Conv3d")

    def output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise self._shape_error(input_shape, "expected (C, D, H, W)")
        if input_shape[0] != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {input_shape[0]}")
        pad = padding6(self.padding, self.kernel_size, self.stride, self.dilation)
        out = tuple(conv_out(input_shape[1 + i], self.kernel_size[i], self.stride[i],
                             pad[2 * i] + pad[2 * i + 1], self.dilation[i]) for i in range(3))
        if min(out) <= 0:
            raise self._shape_error(input_shape, f"the (dilated) kernel {self.kernel_size} does not fit "
                                    f"the padded input; output would be {out}")
        return (self.out_channels,) + out

    def forward(self, x):
        x = as_input(x, self, (4, 5))
        _channels_check(self, x)
        weight, bias = weights_for(x, self.weight, self.bias)
        padding = self.padding
        if self.padding_mode != "zeros":
            pad = padding6(padding, self.kernel_size, self.stride, self.dilation)
            x, padding = _padded_for_mode(x, tuple(zip(pad[0::2], pad[1::2])), self.padding_mode), 0
        return ops.conv3d(x, weight, bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        return _repr(self)


class ConvTranspose3d(Module):
    """torch.nn.ConvTranspose3d: input (N, in_channels, D, H, W) or unbatched ->
    (N, out_channels, OD, OH, OW), OD = (D-1)*stride - 2*padding + dilation*(kD-1)
    + output_padding + 1 (likewise OH, OW).

    weight (in_channels, out_channels/groups, kD, kH, kW), bias (out_channels,);
    initialised as PyTorch does. forward(x, output_size=None): output_size (3 sizes, or
    5 with N and C first) picks the output_padding, as torch.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", *, rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = _positive_triple(kernel_size, "kernel_size")
        self.stride = _positive_triple(stride, "stride")
        self.dilation = _positive_triple(dilation, "dilation")
        self.groups = positive(groups, "groups")
        self.padding_mode = _zeros_only("ConvTranspose3d", padding_mode)
        self.padding = triple(padding, "padding")
        self.output_padding = triple(output_padding, "output_padding")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise ValueError(f"ConvTranspose3d padding and output_padding must be >= 0, got "
                             f"{self.padding} and {self.output_padding}")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise ValueError(f"ConvTranspose3d output_padding must be smaller than either stride or "
                                 f"dilation, got output_padding={self.output_padding}, stride={self.stride}, "
                                 f"dilation={self.dilation}")
        _check_groups(self, self.in_channels, self.out_channels, self.groups)
        shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        _init_conv_parameters(self, shape, False, rng, "ConvTranspose3d")
        if bias:  # torch: U(+-1/sqrt(fan_in)), fan_in from the weight's dim 1 and kernel
            bound = 1.0 / math.sqrt(shape[1] * int(np.prod(self.kernel_size)))
            self.bias = Parameter(init.uniform_(np.empty(self.out_channels, "float32"), -bound, bound, rng))

    def _output_padding(self, spatial_in, output_size):
        """torch's rule: the output_padding that gives output_size (each within
        [min, min + stride - 1])."""
        if output_size is None:
            return self.output_padding
        size = tuple(int(v) for v in output_size)
        if len(size) == 5:
            size = size[2:]
        if len(size) != 3:
            raise ValueError(f"output_size must have 3 or 5 elements, got {tuple(output_size)}")
        out_pad = []
        for i in range(3):
            lo = ((spatial_in[i] - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(f"requested an output size of {size}, but valid sizes range from "
                                 f"{lo} to {hi} along axis {i} (for an input of {tuple(spatial_in)})")
            out_pad.append(size[i] - lo)
        return tuple(out_pad)

    def output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise self._shape_error(input_shape, "expected (C, D, H, W)")
        if input_shape[0] != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {input_shape[0]}")
        out = tuple((input_shape[1 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                    + self.dilation[i] * (self.kernel_size[i] - 1) + self.output_padding[i] + 1
                    for i in range(3))
        if min(out) <= 0:
            raise self._shape_error(input_shape, f"the output would be {out}")
        return (self.out_channels,) + out

    def forward(self, x, output_size=None):
        x = as_input(x, self, (4, 5))
        _channels_check(self, x)
        out_pad = self._output_padding(tuple(x.shape[-3:]), output_size)
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.conv_transpose3d(x, weight, bias, self.stride, self.padding, out_pad, self.groups,
                                    self.dilation)

    def extra_repr(self):
        return _repr(self, transposed=True)
