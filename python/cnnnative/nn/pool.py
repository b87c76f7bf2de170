"""Pooling layers: MaxPool2d, AvgPool2d, GlobalAvgPool2d (NCHW)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ._util import as_input, conv_out, pair
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "AdaptiveAvgPool2d"]


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.dilation = pair(dilation, "dilation")
        self.ceil_mode = bool(ceil_mode)
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0 or min(self.dilation) <= 0:
            raise ValueError(f"{type(self).__name__}: kernel_size, stride and dilation must be positive, "
                             f"got {self.kernel_size}, {self.stride}, {self.dilation}")
        if min(self.padding) < 0 or any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be >= 0 and at most "
                             f"half the kernel {self.kernel_size}")
        self._input_shape = None

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        c, h, w = input_shape
        oh = conv_out(h, self.kernel_size[0], self.stride[0], 2 * self.padding[0], self.dilation[0],
                      self.ceil_mode, self.padding[0])
        ow = conv_out(w, self.kernel_size[1], self.stride[1], 2 * self.padding[1], self.dilation[1],
                      self.ceil_mode, self.padding[1])
        if oh <= 0 or ow <= 0:
            raise self._shape_error(input_shape, f"window {self.kernel_size} does not fit; output {oh}x{ow}")
        return (c, oh, ow)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool2d(_Pool2d):
    """torch.nn.MaxPool2d: (N, C, H, W) -> (N, C, OH, OW); backward routes each gradient
    to the arg-max it came from."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self._indices = None

    def forward(self, x):
        x = as_input(x, self, 4)
        args = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        if not self.training:
            self._indices = None
            return ops.max_pool2d(x, *args)
        y, self._indices = ops.max_pool2d(x, *args, return_indices=True)
        self._input_shape = x.shape
        return y

    def backward(self, grad_output):
        if self._indices is None:
            raise RuntimeError(f"{self!r}: backward without a training-mode forward")
        g = ops.max_pool2d_backward(grad_output, self._indices, self._input_shape)
        self._indices = None
        return g

    def _backward_chained(self, grad_output, *, grad_is_scratch, result_is_scratch):
        # The caller consumes our result at once, so one grad_input buffer serves every step:
        # no fresh multi-MB array to page-fault in (the kernel zero-fills it each time).
        if not result_is_scratch or self._indices is None or not isinstance(grad_output, np.ndarray):
            return self.backward(grad_output)
        shape = tuple(self._input_shape)
        buf = getattr(self, "_grad_buffer", None)
        if buf is None or buf.shape != shape or np.may_share_memory(buf, grad_output):
            buf = np.empty(shape, dtype=np.float32)
            object.__setattr__(self, "_grad_buffer", buf)
        g = ops.max_pool2d_backward(grad_output, self._indices, shape, out=buf)
        self._indices = None
        return g

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")


class AvgPool2d(_Pool2d):
    """torch.nn.AvgPool2d: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def forward(self, x):
        x = as_input(x, self, 4)
        self._input_shape = x.shape if self.training else None
        return ops.avg_pool2d(x, *self._args())

    def backward(self, grad_output):
        if self._input_shape is None:
            raise RuntimeError(f"{self!r}: backward without a training-mode forward")
        g = ops.avg_pool2d_backward(grad_output, self._input_shape, *self._args())
        self._input_shape = None
        return g


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1) (torch.nn.AdaptiveAvgPool2d(1))."""

    def __init__(self):
        super().__init__()
        self._input_shape = None

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        return (input_shape[0], 1, 1)

    def forward(self, x):
        x = as_input(x, self, 4)
        self._input_shape = x.shape if self.training else None
        return ops.global_avg_pool2d(x)

    def backward(self, grad_output):
        if self._input_shape is None:
            raise RuntimeError(f"{self!r}: backward without a training-mode forward")
        g = ops.global_avg_pool2d_backward(grad_output, self._input_shape)
        self._input_shape = None
        return g


class AdaptiveAvgPool2d(GlobalAvgPool2d):
    """torch.nn.AdaptiveAvgPool2d, output size 1 only (the global average)."""

    def __init__(self, output_size=1):
        if pair(output_size, "output_size") != (1, 1):
            raise ValueError(f"AdaptiveAvgPool2d supports output_size=1 only, got {output_size!r}")
        super().__init__()
