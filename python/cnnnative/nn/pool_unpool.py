"""MaxUnpool1d and MaxUnpool2d (torch.nn.MaxUnpool1d/2d): put each pooled value back where
its maximum came from, zeros elsewhere. forward(input, indices, output_size=None), indices
from MaxPool1d/2d(return_indices=True)."""
from __future__ import annotations

from .. import ops
from ..ops.conv1d import single
from ._util import as_input, pair
from .module import Module

__all__ = ["MaxUnpool1d", "MaxUnpool2d"]


class MaxUnpool2d(Module):
    """torch.nn.MaxUnpool2d(kernel_size, stride=None, padding=0): (N, C, H, W) ->
    (N, C, (H-1)*stride - 2*padding + kernel, ...) or output_size."""

    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        axis = pair if self._dims == 2 else single
        self.kernel_size = axis(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else axis(stride, "stride")
        self.padding = axis(padding, "padding")
        as_tuple = (lambda v: v) if self._dims == 2 else (lambda v: (v,))
        if min(as_tuple(self.kernel_size)) <= 0 or min(as_tuple(self.stride)) <= 0 or min(as_tuple(self.padding)) < 0:
            raise ValueError(f"{type(self).__name__}: kernel_size and stride must be positive and padding >= 0, "
                             f"got {self.kernel_size}, {self.stride}, {self.padding}")

    def forward(self, x, indices, output_size=None):
        x = as_input(x, self, (self._dims + 1, self._dims + 2))
        unpool = ops.max_unpool2d if self._dims == 2 else ops.max_unpool1d
        return unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    """torch.nn.MaxUnpool1d(kernel_size, stride=None, padding=0): (N, C, L) -> (N, C, OL)."""

    _dims = 1
