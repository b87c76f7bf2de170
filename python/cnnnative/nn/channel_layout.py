"""Channel-layout layers (torch.nn names): PixelShuffle, PixelUnshuffle, ChannelShuffle.
Pure permutations of the elements (each layer's backward is the inverse permutation)."""
from __future__ import annotations

from .. import ops
from ._util import as_input, positive
from .module import Module

__all__ = ["PixelShuffle", "PixelUnshuffle", "ChannelShuffle"]


class PixelShuffle(Module):
    """(*, C * r**2, H, W) -> (*, C, H * r, W * r), r = upscale_factor (torch.nn.PixelShuffle)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = positive(upscale_factor, "upscale_factor")

    def output_shape(self, input_shape):
        if len(input_shape) < 3:
            raise self._shape_error(input_shape, "expected (*, C, H, W)")
        c, h, w = input_shape[-3:]
        r = self.upscale_factor
        if c % (r * r):
            raise self._shape_error(input_shape, f"{c} channels are not divisible by upscale_factor**2 = {r * r}")
        return (*input_shape[:-3], c // (r * r), h * r, w * r)

    def forward(self, x):
        return ops.pixel_shuffle(as_input(x, self), self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r**2, H, W), r = downscale_factor (torch.nn.PixelUnshuffle)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = positive(downscale_factor, "downscale_factor")

    def output_shape(self, input_shape):
        if len(input_shape) < 3:
            raise self._shape_error(input_shape, "expected (*, C, H, W)")
        c, h, w = input_shape[-3:]
        r = self.downscale_factor
        if h % r or w % r:
            raise self._shape_error(input_shape, f"height {h} and width {w} must be divisible by downscale_factor={r}")
        return (*input_shape[:-3], c * r * r, h // r, w // r)

    def forward(self, x):
        return ops.pixel_unshuffle(as_input(x, self), self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle (torch.nn.ChannelShuffle): (N, C, *) with C seen as
    (groups, C / groups), transposed."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = positive(groups, "groups")

    def output_shape(self, input_shape):
        if input_shape[0] % self.groups:
            raise self._shape_error(input_shape, f"{input_shape[0]} channels are not divisible by groups={self.groups}")
        return tuple(input_shape)

    def forward(self, x):
        return ops.channel_shuffle(as_input(x, self), self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"
