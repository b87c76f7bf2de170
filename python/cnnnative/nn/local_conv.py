"""LocallyConnected2d and TiledConv2d: convolutions whose filters are not shared across all
output positions (ops.locally_connected2d / ops.tiled_conv2d, which autograd records).
PyTorch has neither layer; the parameter layouts are documented in ops/local_conv.py."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops.local_conv import _tile
from . import init
from ._util import as_input, conv_out, empty_param, pair, padding4, positive, weights_for
from .module import Module, Parameter

__all__ = ["LocallyConnected2d", "TiledConv2d"]


def _check_geometry(kind, kernel_size, stride, padding):
    for name, v in (("kernel_size", kernel_size), ("stride", stride)):
        if min(v) <= 0:
            raise ValueError(f"{kind} {name} must be positive, got {v}")
    if min(padding) < 0:
        raise ValueError(f"{kind} padding must be >= 0, got {padding}")


def _uniform_parameter(shape, bound, rng, what):
    """U(-bound, bound): torch's default conv initialisation (kaiming_uniform with
    a=sqrt(5)) is this with bound = 1/sqrt(fan_in), for weight and bias alike."""
    return Parameter(init.uniform_(empty_param(shape, what), -bound, bound, rng))


class LocallyConnected2d(Module):
    """Locally connected ("unshared") 2-D convolution: Conv2d with a separate filter bank
    at every output position, for inputs whose positions mean different things (aligned
    faces, fixed-layout images). Parameters grow with the output area.

    input (N, in_channels, H, W) with (H, W) == input_size -> (N, out_channels, OH, OW).
    weight (OH*OW, out_channels, in_channels*kH*kW): bank p = oh*OW + ow, patch in
    torch.nn.functional.unfold's (c, ki, kj) order; bias (out_channels, OH, OW).
    Initialised as Conv2d (U(+-1/sqrt(in_channels*kH*kW)) for both).
    padding: int, (h, w) or (top, bottom, left, right).
    """

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0, bias=True, *,
                 rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.input_size = pair(input_size, "input_size")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = padding4(padding)
        _check_geometry("LocallyConnected2d", self.kernel_size, self.stride, self.padding)
        if min(self.input_size) <= 0:
            raise ValueError(f"LocallyConnected2d input_size must be positive, got {self.input_size}")
        t, b, l, r = self.padding
        oh = conv_out(self.input_size[0], self.kernel_size[0], self.stride[0], t + b)
        ow = conv_out(self.input_size[1], self.kernel_size[1], self.stride[1], l + r)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"LocallyConnected2d: kernel_size {self.kernel_size} does not fit input_size "
                             f"{self.input_size} padded by {self.padding}")
        self.output_size = (oh, ow)
        patch = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(patch)
        self.weight = _uniform_parameter((oh * ow, self.out_channels, patch), bound, rng,
                                         "LocallyConnected2d weight")
        if bias:
            self.bias = _uniform_parameter((self.out_channels, oh, ow), bound, rng, "LocallyConnected2d bias")
        else:
            self._parameters["bias"] = None

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_channels, *self.input_size):
            raise self._shape_error(input_shape, f"expected ({self.in_channels}, {self.input_size[0]}, "
                                    f"{self.input_size[1]})")
        return (self.out_channels, *self.output_size)

    def forward(self, x):
        x = as_input(x, self, (3, 4))
        c, h, w = x.shape[-3:]
        if c != self.in_channels or (h, w) != self.input_size:
            raise ValueError(f"{self!r}: input has {c} channels and spatial size {(h, w)}, but the layer was "
                             f"built for {self.in_channels} channels and input_size={self.input_size} "
                             f"(input shape {tuple(x.shape)})")
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.locally_connected2d(x, weight, bias, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if any(self.padding):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class TiledConv2d(Module):
    """Tiled convolution (Goodfellow, Bengio & Courville, ch. 9.5): tile_size[0]*tile_size[1]
    filter banks cycling over the output positions, output (i, j) using bank
    (i mod t_h)*t_w + (j mod t_w). Between Conv2d (tile (1, 1)) and LocallyConnected2d:
    some invariance to learned transformations for t_h*t_w times Conv2d's parameters, and
    any input size.

    weight (t_h*t_w, out_channels, in_channels, kH, kW) (bank b is a Conv2d weight);
    bias (out_channels,), shared by all banks. Initialised as Conv2d.
    padding: int, (h, w) or (top, bottom, left, right).
    """

    def __init__(self, in_channels, out_channels, kernel_size, tile_size=(2, 2), stride=1, padding=0, bias=True, *,
                 rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.tile_size = _tile(tile_size)
        self.stride = pair(stride, "stride")
        self.padding = padding4(padding)
        _check_geometry("TiledConv2d", self.kernel_size, self.stride, self.padding)
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        banks = self.tile_size[0] * self.tile_size[1]
        self.weight = _uniform_parameter((banks, self.out_channels, self.in_channels, *self.kernel_size), bound,
                                         rng, "TiledConv2d weight")
        if bias:
            self.bias = _uniform_parameter((self.out_channels,), bound, rng, "TiledConv2d bias")
        else:
            self._parameters["bias"] = None

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        c, h, w = input_shape
        if c != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {c}")
        t, b, l, r = self.padding
        oh = conv_out(h, self.kernel_size[0], self.stride[0], t + b)
        ow = conv_out(w, self.kernel_size[1], self.stride[1], l + r)
        if oh <= 0 or ow <= 0:
            raise self._shape_error(input_shape, f"the kernel {self.kernel_size} does not fit the padded input")
        return (self.out_channels, oh, ow)

    def forward(self, x):
        x = as_input(x, self, (3, 4))
        if x.shape[-3] != self.in_channels:
            raise ValueError(f"{self!r}: input has {x.shape[-3]} channels, expected {self.in_channels} "
                             f"(input shape {tuple(x.shape)})")
        weight, bias = weights_for(x, self.weight, self.bias)
        return ops.tiled_conv2d(x, weight, bias, self.tile_size, self.stride, self.padding)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"tile_size={self.tile_size}, stride={self.stride}")
        if any(self.padding):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
