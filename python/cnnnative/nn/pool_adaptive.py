"""Adaptive pooling layers with any output size: AdaptiveAvgPool1d/2d/3d,
AdaptiveMaxPool1d/2d/3d (torch's windows; None in output_size keeps that input size), and
GlobalMaxPool2d. AdaptiveAvgPool2d(1) runs the global-average op, which the compiled engine
has a node for; an output size that divides the input's (VGG's 7x7 from 7x7 or 14x14) runs
as the equal avg_pool2d, one that is a multiple of it (7x7 from 1x1) as the equal nearest
interpolation, both engine nodes; other sizes run the adaptive op (a host node when
compiled)."""
from __future__ import annotations

from .. import ops
from ..ops._args import index
from ._util import as_input
from .module import Module

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AdaptiveMaxPool3d", "GlobalMaxPool2d"]


class _Adaptive(Module):
    _dims = 2

    def __init__(self, output_size) -> None:
        super().__init__()
        items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * self._dims
        if len(items) != self._dims:
            raise ValueError(f"{type(self).__name__}: output_size must be an int or a {self._dims}-tuple, "
                             f"got {output_size!r}")
        for v in items:
            if v is not None and index(v, "output_size") <= 0:
                raise ValueError(f"{type(self).__name__}: output_size must be positive (or None), got {output_size!r}")
        self.output_size = output_size if not isinstance(output_size, list) else tuple(output_size)
        self._sizes = items

    def output_shape(self, input_shape):
        if len(input_shape) != self._dims + 1:
            raise self._shape_error(input_shape, f"expected (C, ...) with {self._dims} pooled dimensions")
        return (input_shape[0],) + tuple(n if v is None else int(v) for n, v in zip(input_shape[1:], self._sizes))

    def _input(self, x):
        return as_input(x, self, (self._dims + 1, self._dims + 2))

    def extra_repr(self):
        return f"output_size={self.output_size!r}"


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices=False) -> None:
        super().__init__(output_size)
        self.return_indices = bool(return_indices)


class AdaptiveAvgPool1d(_Adaptive):
    """torch.nn.AdaptiveAvgPool1d: (N, C, L) -> (N, C, output_size)."""

    _dims = 1

    def forward(self, x):
        return ops.adaptive_avg_pool1d(self._input(x), self.output_size)


class AdaptiveAvgPool2d(_Adaptive):
    """torch.nn.AdaptiveAvgPool2d: (N, C, H, W) -> (N, C, OH, OW)."""

    def forward(self, x):
        x = self._input(x)
        if self._sizes == (1, 1) and x.ndim == 4:
            return ops.global_avg_pool2d(x)  # an engine node when compiled
        h, w = x.shape[-2:]
        oh, ow = (n if v is None else int(v) for n, v in zip((h, w), self._sizes))
        if x.ndim == 4 and h % oh == 0 and w % ow == 0:
            # Windows of exactly (h/oh, w/ow), none overlapping: plain average pooling.
            return ops.avg_pool2d(x, (h // oh, w // ow))
        if x.ndim == 4 and oh % h == 0 and ow % w == 0:
            # Every window is one input pixel (VGG's 1x1 -> 7x7 at a 32x32 input): a nearest
            # upsampling by whole factors, also an engine node.
            return ops.interpolate(x, size=(oh, ow), mode="nearest")
        return ops.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveAvgPool3d(_Adaptive):
    """torch.nn.AdaptiveAvgPool3d: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _dims = 3

    def forward(self, x):
        return ops.adaptive_avg_pool3d(self._input(x), self.output_size)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """torch.nn.AdaptiveMaxPool1d: (N, C, L) -> (N, C, output_size)."""

    _dims = 1

    def forward(self, x):
        return ops.adaptive_max_pool1d(self._input(x), self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """torch.nn.AdaptiveMaxPool2d: (N, C, H, W) -> (N, C, OH, OW)."""

    def forward(self, x):
        return ops.adaptive_max_pool2d(self._input(x), self.output_size, self.return_indices)


class AdaptiveMaxPool3d(_AdaptiveMax):
    """torch.nn.AdaptiveMaxPool3d: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    _dims = 3

    def forward(self, x):
        return ops.adaptive_max_pool3d(self._input(x), self.output_size, self.return_indices)


class GlobalMaxPool2d(Module):
    """Max over H and W: (N, C, H, W) -> (N, C, 1, 1) (torch.nn.AdaptiveMaxPool2d(1))."""

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise self._shape_error(input_shape, "expected (C, H, W)")
        return (input_shape[0], 1, 1)

    def forward(self, x):
        return ops.adaptive_max_pool2d(as_input(x, self, 4), 1)
