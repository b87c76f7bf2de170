"""Pooling layers: MaxPool2d, AvgPool2d, GlobalAvgPool2d (NCHW), each one cnnnative.ops
call (autograd records it)."""
from __future__ import annotations

from .. import ops
from ._util import as_input, conv_out, pair
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"]


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> None:
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
    """torch.nn.MaxPool2d: (N, C, H, W) -> (N, C, OH, OW); the gradient goes to the
    arg-max of each window. return_indices=True returns (out, indices) for MaxUnpool2d."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        x = as_input(x, self, 4)
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              self.return_indices)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")


class AvgPool2d(_Pool2d):
    """torch.nn.AvgPool2d: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        x = as_input(x, self, 4)
        return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad)


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1) (torch.nn.AdaptiveAvgPool2d(1))."""

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        return (input_shape[0], 1, 1)

    def forward(self, x):
        x = as_input(x, self, 4)
        return ops.global_avg_pool2d(x)
