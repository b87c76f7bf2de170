"""Power-average pooling layers LPPool1d and LPPool2d (torch.nn.LPPool1d/2d): each output
is (sum of x**norm_type over its window) ** (1/norm_type), no padding."""
from __future__ import annotations

from .. import ops
from ..ops.conv1d import single
from ._util import as_input, conv_out, finite, pair
from .module import Module

__all__ = ["LPPool1d", "LPPool2d"]


class LPPool2d(Module):
    """torch.nn.LPPool2d(norm_type, kernel_size, stride=None, ceil_mode=False)."""

    _dims = 2

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False) -> None:
        super().__init__()
        self.norm_type = finite(norm_type, "norm_type", minimum=0.0, positive=True)
        axis = pair if self._dims == 2 else single
        self.kernel_size = axis(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else axis(stride, "stride")
        self.ceil_mode = bool(ceil_mode)
        k = self.kernel_size if self._dims == 2 else (self.kernel_size,)
        s = self.stride if self._dims == 2 else (self.stride,)
        if min(k) <= 0 or min(s) <= 0:
            raise ValueError(f"{type(self).__name__}: kernel_size and stride must be positive, got "
                             f"{self.kernel_size}, {self.stride}")
        self._k, self._s = k, s

    def output_shape(self, input_shape):
        if len(input_shape) != self._dims + 1:
            raise self._shape_error(input_shape, f"expected (C, {'L' if self._dims == 1 else 'H, W'})")
        out = tuple(conv_out(n, k, s, 0, 1, self.ceil_mode) for n, k, s in zip(input_shape[1:], self._k, self._s))
        if min(out) <= 0:
            raise self._shape_error(input_shape, f"window {self.kernel_size} does not fit")
        return (input_shape[0],) + out

    def forward(self, x):
        x = as_input(x, self, (3, 4))
        return ops.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class LPPool1d(LPPool2d):
    """torch.nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)."""

    _dims = 1

    def forward(self, x):
        x = as_input(x, self, (2, 3))
        return ops.lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
