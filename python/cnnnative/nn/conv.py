"""Conv2d and Conv1d: convolution layers, ops.conv2d / ops.conv1d on their weight and bias
(autograd records them)."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..ops.conv import string_padding
from ..ops.conv1d import left_right_padding, single
from . import init
from ._util import as_input, conv_out, empty_param, pair, padding4, weights_for, positive
from .module import Module, Parameter

__all__ = ["Conv2d", "Conv1d"]



def _init_conv_parameters(layer, shape, bias, rng, kind, bias_size=None):
    """torch's default for any convolution: weight (K, C/groups, *kernel) by
    kaiming_uniform(a=sqrt(5)), bias uniform in +-1/sqrt(fan_in) (or None); fan_in is
    shape[1] * kernel also for transposed ones (weight (C, K/groups, *kernel), bias_size K)."""
    layer.weight = Parameter(init.kaiming_uniform_(empty_param(shape, f"{kind} weight"), a=math.sqrt(5), rng=rng))
    if not bias:
        layer._parameters["bias"] = None
        return
    bound = 1.0 / math.sqrt(int(np.prod(shape[1:], dtype=np.int64)))
    layer.bias = Parameter(init.uniform_(np.empty(shape[0] if bias_size is None else bias_size, "float32"),
                                         -bound, bound, rng))


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _padding_mode(value, layer):
    if value not in PADDING_MODES:
        raise ValueError(f"{layer} padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
                         f"got padding_mode={value!r}")
    return value


def _padded_for_mode(x, padding, padding_mode):
    """The input of a convolution whose padding_mode is not 'zeros': x padded by `padding`
    ((before, after) for each spatial dimension, first dimension first) in that mode; the
    convolution then runs with zero padding 0. This is torch's F.pad(x,
    _reversed_padding_repeated_twice, mode) (the pad tuple is last dimension first)."""
    if padding_mode == "zeros" or not any(p for pair_ in padding for p in pair_):
        return x
    flat = tuple(p for before, after in reversed(padding) for p in (before, after))
    return ops.pad(x, flat, padding_mode)


class Conv2d(Module):
    """torch.nn.Conv2d: input (N, in_channels, H, W) -> (N, out_channels, OH, OW).

    weight (out_channels, in_channels/groups, kH, kW), bias (out_channels,). Initialised
    as PyTorch does (kaiming_uniform with a=sqrt(5), bias U(+-1/sqrt(fan_in))).
    padding: int, (h, w), (top, bottom, left, right), 'valid' or 'same' (stride 1; an even
    kernel pads one more at the bottom / right, as torch). padding_mode: 'zeros',
    'reflect', 'replicate' or 'circular' (the input is padded in that mode, then convolved).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, algo="auto", rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        self.padding_mode = _padding_mode(padding_mode, "Conv2d")
        if isinstance(padding, str):  # kept as given (torch's repr); sizes in _pads
            (t, b), (l, r) = string_padding(padding, self.kernel_size, self.stride, self.dilation)
            self.padding, self._pads = padding, (t, b, l, r)
        else:
            self.padding = self._pads = padding4(padding)
        self.groups = positive(groups, "groups")
        self.algo = algo
        for name, v in (("kernel_size", self.kernel_size), ("stride", self.stride),
                        ("dilation", self.dilation)):
            if min(v) <= 0:
                raise ValueError(f"Conv2d {name} must be positive, got {v}")
        if min(self._pads) < 0:
            raise ValueError(f"Conv2d padding must be >= 0, got {self.padding}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d: in_channels ({self.in_channels}) and out_channels "
                             f"({self.out_channels}) must both be divisible by groups ({self.groups})")
        _init_conv_parameters(self, (self.out_channels, self.in_channels // self.groups) + self.kernel_size,
                              bias, rng, "Conv2d")

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        c, h, w = input_shape
        if c != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {c}")
        t, b, l, r = self._pads
        oh = conv_out(h, self.kernel_size[0], self.stride[0], t + b, self.dilation[0])
        ow = conv_out(w, self.kernel_size[1], self.stride[1], l + r, self.dilation[1])
        if oh <= 0 or ow <= 0:
            raise self._shape_error(input_shape, f"the (dilated) kernel {self.kernel_size} does not fit "
                                    f"the padded input; output would be {oh}x{ow}")
        return (self.out_channels, oh, ow)

    def forward(self, x):
        x = as_input(x, self, 4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: input has {x.shape[1]} channels, expected "
                             f"{self.in_channels} (input shape {tuple(x.shape)})")
        weight, bias = weights_for(x, self.weight, self.bias)
        padding = self._pads
        if self.padding_mode != "zeros":
            t, b, l, r = padding
            x, padding = _padded_for_mode(x, ((t, b), (l, r)), self.padding_mode), 0
        return ops.conv2d(x, weight, bias, self.stride, padding, self.dilation, self.groups,
                          algo=self.algo)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class Conv1d(Module):
    """torch.nn.Conv1d: input (N, in_channels, L) or (in_channels, L) -> (N, out_channels, OL).

    weight (out_channels, in_channels/groups, kernel_size), bias (out_channels,): a
    torch.nn.Conv1d state_dict loads. Initialised as PyTorch does. padding: int,
    (left, right) (causal: (dilation*(kernel_size-1), 0)), 'same' or 'valid'. padding_mode:
    'zeros', 'reflect', 'replicate' or 'circular'. Runs on the 2-D kernels with height 1
    (ops.conv1d).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, rng=None) -> None:
        super().__init__()
        self.in_channels = positive(in_channels, "in_channels")
        self.out_channels = positive(out_channels, "out_channels")
        self.kernel_size = (positive(single(kernel_size, "kernel_size"), "kernel_size"),)
        self.stride = (positive(single(stride, "stride"), "stride"),)
        self.dilation = (positive(single(dilation, "dilation"), "dilation"),)
        self.groups = positive(groups, "groups")
        self.padding_mode = _padding_mode(padding_mode, "Conv1d")
        # Strings stay as given (torch's repr and state); numbers become (left, right).
        left_right = left_right_padding(padding, self.kernel_size[0], self.stride[0], self.dilation[0])
        self.padding = padding if isinstance(padding, str) else left_right
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv1d: in_channels ({self.in_channels}) and out_channels "
                             f"({self.out_channels}) must both be divisible by groups ({self.groups})")
        _init_conv_parameters(self, (self.out_channels, self.in_channels // self.groups, self.kernel_size[0]),
                              bias, rng, "Conv1d")

    def output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise self._shape_error(input_shape, "expected (C, L)")
        c, length = input_shape
        if c != self.in_channels:
            raise self._shape_error(input_shape, f"expected {self.in_channels} channels, got {c}")
        left, right = left_right_padding(self.padding, self.kernel_size[0], self.stride[0], self.dilation[0])
        out = conv_out(length, self.kernel_size[0], self.stride[0], left + right, self.dilation[0])
        if out <= 0:
            raise self._shape_error(input_shape, f"the (dilated) kernel {self.kernel_size[0]} does not fit "
                                    f"the padded input; output length would be {out}")
        return (self.out_channels, out)

    def forward(self, x):
        x = as_input(x, self, (2, 3))
        if x.shape[-2] != self.in_channels:
            raise ValueError(f"{self!r}: input has {x.shape[-2]} channels, expected "
                             f"{self.in_channels} (input shape {tuple(x.shape)})")
        weight, bias = weights_for(x, self.weight, self.bias)
        padding = self.padding
        if self.padding_mode != "zeros":
            left_right = left_right_padding(padding, self.kernel_size[0], self.stride[0], self.dilation[0])
            x, padding = _padded_for_mode(x, (left_right,), self.padding_mode), 0
        return ops.conv1d(x, weight, bias, self.stride[0], padding, self.dilation[0], self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s

