"""1-D and 3-D pooling layers: MaxPool1d, AvgPool1d (N, C, L) and MaxPool3d, AvgPool3d
(N, C, D, H, W), torch's arguments and output sizes; each forward is one cnnnative.ops call
(autograd records it). return_indices=True makes a max layer return (out, indices), for
MaxUnpool."""
from __future__ import annotations

from .. import ops
from ..ops.conv1d import single
from ..ops.pool_nd import triple
from ._util import as_input, conv_out
from .module import Module

__all__ = ["MaxPool1d", "AvgPool1d", "MaxPool3d", "AvgPool3d"]


class _PoolNd(Module):
    """Shared arguments; _dims (1 or 3) and _axis (how one axis value is read) per class."""

    _dims = 1
    _axis = staticmethod(single)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False) -> None:
        super().__init__()
        self.kernel_size = self._axis(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None or stride == () else self._axis(stride, "stride")
        self.padding = self._axis(padding, "padding")
        self.dilation = self._axis(dilation, "dilation")
        self.ceil_mode = bool(ceil_mode)
        self.return_indices = bool(return_indices)
        k, s, p, d = (self._tuple(v) for v in (self.kernel_size, self.stride, self.padding, self.dilation))
        if min(k) <= 0 or min(s) <= 0 or min(d) <= 0:
            raise ValueError(f"{type(self).__name__}: kernel_size, stride and dilation must be positive, "
                             f"got {self.kernel_size}, {self.stride}, {self.dilation}")
        if min(p) < 0 or any(2 * pp > kk for pp, kk in zip(p, k)):
            raise ValueError(f"{type(self).__name__}: padding {self.padding} must be >= 0 and at most half the "
                             f"kernel {self.kernel_size}")

    @staticmethod
    def _tuple(v):
        return v if isinstance(v, tuple) else (v,)

    def output_shape(self, input_shape):
        if len(input_shape) != self._dims + 1:
            raise self._shape_error(input_shape, f"expected (C, {('L', '', 'D, H, W')[self._dims - 1]})")
        k, s, p, d = (self._tuple(v) for v in (self.kernel_size, self.stride, self.padding, self.dilation))
        out = tuple(conv_out(n, kk, ss, 2 * pp, dd, self.ceil_mode, pp)
                    for n, kk, ss, pp, dd in zip(input_shape[1:], k, s, p, d))
        if min(out) <= 0:
            raise self._shape_error(input_shape, f"window {self.kernel_size} does not fit; output {out}")
        return (input_shape[0],) + out

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool1d(_PoolNd):
    """torch.nn.MaxPool1d: (N, C, L) -> (N, C, OL); the gradient goes to each window's arg-max."""

    def forward(self, x):
        x = as_input(x, self, (2, 3))
        return ops.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              self.return_indices)

    def extra_repr(self):
        return super().extra_repr() + (f", dilation={self.dilation}" if self.dilation != 1 else "")


class MaxPool3d(_PoolNd):
    """torch.nn.MaxPool3d: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _dims = 3
    _axis = staticmethod(triple)

    def forward(self, x):
        x = as_input(x, self, (4, 5))
        return ops.max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              self.return_indices)

    def extra_repr(self):
        return super().extra_repr() + (f", dilation={self.dilation}" if self.dilation != (1, 1, 1) else "")


class AvgPool1d(_PoolNd):
    """torch.nn.AvgPool1d: (N, C, L) -> (N, C, OL)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> None:
        super().__init__(kernel_size, stride, padding, 1, False, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        x = as_input(x, self, (2, 3))
        return ops.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool3d(_PoolNd):
    """torch.nn.AvgPool3d (without divisor_override): (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _dims = 3
    _axis = staticmethod(triple)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> None:
        super().__init__(kernel_size, stride, padding, 1, False, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        x = as_input(x, self, (4, 5))
        return ops.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
