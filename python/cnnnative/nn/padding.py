"""Padding layers with torch.nn's names: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad
and CircularPad, each 1d / 2d / 3d. Each forward is one ops.pad call (autograd records it).

padding: an int (the same on every side) or a tuple in F.pad's order, last dimension first:
(left, right) for 1d, (left, right, top, bottom) for 2d, (left, right, top, bottom, front,
back) for 3d. Negative values crop, as torch.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import _items
from ._util import as_input, index
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d"]


def _padding(value, dims, layer):
    """An int or a 2*dims-tuple -> the 2*dims-tuple torch keeps in `.padding`."""
    if not isinstance(value, (tuple, list)):
        return (index(value, "padding"),) * (2 * dims)
    items = _items(value, "padding", f"an int or a {2 * dims}-tuple")
    if len(items) != 2 * dims:
        raise ValueError(f"{layer}: padding must be an int or a {2 * dims}-tuple "
                         f"(left, right{', top, bottom' if dims > 1 else ''}{', front, back' if dims > 2 else ''}), "
                         f"got {value!r}")
    return tuple(items)


class _PadNd(Module):
    """Pads the last `dims` dimensions of (N, C, *spatial) or (C, *spatial) inputs."""

    dims = 2
    mode = "constant"

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _padding(padding, self.dims, type(self).__name__)

    def output_shape(self, input_shape):
        if len(input_shape) != self.dims + 1:
            raise self._shape_error(input_shape, f"expected (C, {', '.join('DHW'[3 - self.dims:])})")
        shape = list(input_shape)
        for i in range(self.dims):
            shape[-1 - i] += self.padding[2 * i] + self.padding[2 * i + 1]
        if min(shape[1:]) < (0 if self.mode in ("constant", "circular") else 1):
            raise self._shape_error(input_shape, f"padding {self.padding} gives output {tuple(shape)}")
        return tuple(shape)

    def forward(self, x):
        x = as_input(x, self, (self.dims + 1, self.dims + 2))
        return ops.pad(x, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value) -> None:
        super().__init__(padding)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{type(self).__name__}: value must be a number, got {type(value).__name__} {value!r}")
        self.value = float(value)  # any float, inf and NaN included, as torch

    def forward(self, x):
        x = as_input(x, self, (self.dims + 1, self.dims + 2))
        return ops.pad(x, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """torch.nn.ConstantPad1d(padding, value): (N, C, L) or (C, L), padding (left, right)."""
    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """torch.nn.ConstantPad2d(padding, value): padding (left, right, top, bottom)."""
    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """torch.nn.ConstantPad3d(padding, value): padding (left, right, top, bottom, front, back)."""
    dims = 3


class ZeroPad1d(ConstantPad1d):
    """torch.nn.ZeroPad1d(padding): ConstantPad1d with value 0."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """torch.nn.ZeroPad2d(padding): ConstantPad2d with value 0."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """torch.nn.ZeroPad3d(padding): ConstantPad3d with value 0."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """torch.nn.ReflectionPad1d: mirrors about the edge element (each pad < the size)."""
    dims, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """torch.nn.ReflectionPad2d: mirrors about the edge elements (each pad < the size)."""
    dims, mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """torch.nn.ReflectionPad3d: mirrors about the edge elements (each pad < the size)."""
    dims, mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """torch.nn.ReplicationPad1d: repeats the edge element."""
    dims, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """torch.nn.ReplicationPad2d: repeats the edge elements."""
    dims, mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """torch.nn.ReplicationPad3d: repeats the edge elements."""
    dims, mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """torch.nn.CircularPad1d: wraps around (each pad <= the size)."""
    dims, mode = 1, "circular"


class CircularPad2d(_PadNd):
    """torch.nn.CircularPad2d: wraps around (each pad <= the size)."""
    dims, mode = 2, "circular"


class CircularPad3d(_PadNd):
    """torch.nn.CircularPad3d: wraps around (each pad <= the size)."""
    dims, mode = 3, "circular"
