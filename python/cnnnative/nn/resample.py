"""Upsampling layers (torch.nn names): Upsample and its two fixed-mode spellings. Each
forward is one cnnnative.ops.interpolate call (see ops/resample.py for the index rules)."""
from __future__ import annotations

from .. import ops
from ..ops.resample import _plan
from ._util import as_input
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """torch.nn.Upsample: (N, C, *in) -> (N, C, *out) for 1 to 3 spatial axes.

    Give size (an int or one per axis) or scale_factor (a number or one per axis); mode
    'nearest' | 'nearest-exact' | 'linear' | 'bilinear' | 'trilinear'; align_corners for
    the linear modes only. Nothing to learn."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None) -> None:
        super().__init__()
        self.size = tuple(size) if isinstance(size, list) else size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        # The arguments are checked now, on a stand-in input of the rank they imply, so a bad
        # layer fails where it is built rather than at its first call.
        given = self.size if self.size is not None else self.scale_factor
        dims = len(given) if isinstance(given, tuple) else {"linear": 1, "trilinear": 3}.get(mode, 2)
        _plan((1, 1) + (2,) * dims, self.size, self.scale_factor, mode, align_corners, recompute_scale_factor)

    def output_shape(self, input_shape):
        _, _, out, _ = _plan((1,) + tuple(input_shape), self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)
        return (input_shape[0], *out)

    def forward(self, x):
        x = as_input(x, self, (3, 4, 5))
        return ops.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                               self.recompute_scale_factor)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}" + (f", align_corners={self.align_corners}"
                                                if self.align_corners is not None else "")


class UpsamplingNearest2d(Upsample):
    """torch.nn.UpsamplingNearest2d: Upsample(size, scale_factor, mode='nearest') on (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """torch.nn.UpsamplingBilinear2d: Upsample(size, scale_factor, mode='bilinear',
    align_corners=True) on (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
