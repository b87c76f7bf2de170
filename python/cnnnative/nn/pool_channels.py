"""Cross-channel pooling layers: Maxout (max over groups of `pieces` consecutive channels)
and ChannelAvgPool (their mean). (N, C, ...) -> (N, C/k, ...), any number of trailing
dimensions, so both follow a Linear ((N, F) -> (N, F/k)) as well as a Conv2d.

PyTorch has no layer for these (its users write x.view(N, C // k, k, ...).max(2)); the
names follow torch's pattern for pooling layers (what is pooled, then AvgPool), and
Maxout is the name of Goodfellow et al.'s unit."""
from __future__ import annotations

from .. import ops
from ._util import as_input, positive
from .module import Module

__all__ = ["Maxout", "ChannelAvgPool"]


class _ChannelPool(Module):
    _arg = "kernel_size"

    def __init__(self, k) -> None:
        super().__init__()
        self._k = positive(k, self._arg)

    def output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[0] % self._k:
            raise self._shape_error(input_shape, f"{self._arg}={self._k} must divide the channels")
        return (input_shape[0] // self._k,) + tuple(input_shape[1:])

    def extra_repr(self):
        return f"{self._arg}={self._k}"


class Maxout(_ChannelPool):
    """Maxout(pieces): out[:, g] = max of input channels g*pieces .. (g+1)*pieces - 1; the
    gradient goes to the arg-max piece. A ValueError names pieces and the channels when
    pieces does not divide them."""

    _arg = "pieces"

    def __init__(self, pieces: int) -> None:
        super().__init__(pieces)
        self.pieces = self._k

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim < 2 or x.shape[1] % self.pieces:
            raise ValueError(f"{self!r}: pieces={self.pieces} must divide the channels of the input "
                             f"(dimension 1 of shape {tuple(x.shape)})")
        return ops.max_pool_channels(x, self.pieces)


class ChannelAvgPool(_ChannelPool):
    """ChannelAvgPool(kernel_size): out[:, g] = mean of input channels g*k .. (g+1)*k - 1."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__(kernel_size)
        self.kernel_size = self._k

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim < 2 or x.shape[1] % self.kernel_size:
            raise ValueError(f"{self!r}: kernel_size={self.kernel_size} must divide the channels of the input "
                             f"(dimension 1 of shape {tuple(x.shape)})")
        return ops.avg_pool_channels(x, self.kernel_size)
