"""Resampling and channel layout: interpolate (torch.nn.functional.interpolate: nearest,
nearest-exact, linear / bilinear / trilinear), pixel_shuffle / pixel_unshuffle,
channel_shuffle, and channel_scale (the squeeze-and-excitation scale x * s[:, :, None, None]).

Layout N, C, then 1 to 3 spatial axes, float32. interpolate follows PyTorch's source-index
rules exactly (computed in C++, cpp/src/resample/resample_tables.cc): with `scale_factor`
given (and recompute_scale_factor not set) the source index uses 1/scale_factor, not
in/out, so e.g. a 5-long axis scaled by 1.7 (8 long) samples where PyTorch does.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _core
from ._args import index

__all__ = ["interpolate", "interpolate_backward", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
           "channel_scale", "channel_scale_backward"]

# mode -> (the kernel's mode, the input rank it needs or None for any of 3, 4, 5)
_MODES = {"nearest": ("nearest", None), "nearest-exact": ("nearest-exact", None),
          "linear": ("linear", 3), "bilinear": ("linear", 4), "trilinear": ("linear", 5)}
_LINEAR = ("linear", "bilinear", "trilinear")


def _per_axis(value, dims, name, convert):
    """An int/float or a sequence of one per spatial axis -> a list of `dims` values."""
    if isinstance(value, (list, tuple)):
        if len(value) != dims:
            raise ValueError(f"interpolate: input has {dims} spatial dimensions but {name} has {len(value)} "
                             f"values ({value!r})")
        return [convert(v) for v in value]
    return [convert(value)] * dims


def _scale(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"interpolate: scale_factor must be a number or a sequence of numbers, got {v!r}")
    v = float(v)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"interpolate: scale_factor must be positive and finite, got {v!r}")
    return v


def _size(v):
    v = index(v, "size")
    if v <= 0:
        raise ValueError(f"interpolate: size must be positive, got {v}")
    return v


def _plan(shape, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias=False):
    """(kernel mode, align_corners, output spatial sizes, per-axis scales for the kernel
    (0 = none)) for an input of `shape`, resolved as torch.nn.functional.interpolate does."""
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(repr(m) for m in _MODES)}, got {mode!r}"
                         + (" (not implemented here)" if mode in ("bicubic", "area") else ""))
    kernel_mode, rank = _MODES[mode]
    ndim = len(shape)
    if ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: input must be 3-D, 4-D or 5-D (N, C, *spatial), got shape {tuple(shape)}")
    if rank is not None and ndim != rank:
        raise ValueError(f"interpolate: mode={mode!r} needs a {rank}-D input, got shape {tuple(shape)}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not implemented")
    if mode in _LINEAR:
        align = False if align_corners is None else bool(align_corners)
    elif align_corners is not None:
        raise ValueError(f"interpolate: align_corners can only be set with the interpolating modes "
                         f"(linear, bilinear, trilinear), got align_corners={align_corners!r} with mode={mode!r}")
    else:
        align = False
    dims = ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    spatial = [int(d) for d in shape[2:]]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
        return kernel_mode, align, _per_axis(size, dims, "size", _size), [0.0] * dims
    scales = _per_axis(scale_factor, dims, "scale_factor", _scale)
    out = [math.floor(float(d) * s) for d, s in zip(spatial, scales)]
    if any(o <= 0 for o in out):
        raise ValueError(f"interpolate: scale_factor {scale_factor!r} on spatial size {tuple(spatial)} gives "
                         f"output size {tuple(out)}; every output size must be positive")
    return kernel_mode, align, out, ([0.0] * dims if recompute_scale_factor else scales)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> np.ndarray:
    """torch.nn.functional.interpolate: (N, C, *in) -> (N, C, *out), 1 to 3 spatial axes.

    size: an int or one per spatial axis; or scale_factor: a number or one per axis (the
    output is floor(in * scale_factor); the sampling uses 1 / scale_factor unless
    recompute_scale_factor=True). mode: 'nearest' (PyTorch's legacy floor rule),
    'nearest-exact' (pixel centres), 'linear' (3-D input), 'bilinear' (4-D), 'trilinear'
    (5-D); align_corners (linear modes only, default False) maps the corner pixels' centres
    onto each other.
    """
    shape = np.shape(input)
    kernel_mode, align, out, scales = _plan(shape, size, scale_factor, mode, align_corners,
                                            recompute_scale_factor, antialias)
    return _core.resample(input, kernel_mode, align, out, scales)


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None, mode: str = "nearest",
                         align_corners=None, recompute_scale_factor=None) -> np.ndarray:
    """The gradient of interpolate (same arguments) with respect to its input of shape
    `input_shape`, from grad_output (N, C, *out). Every input element is written: the sum
    of the weights times gradients of the outputs that read it (0 where none does)."""
    shape = tuple(index(d, "input_shape") for d in input_shape)
    kernel_mode, align, out, scales = _plan(shape, size, scale_factor, mode, align_corners, recompute_scale_factor)
    if tuple(np.shape(grad_output)) != shape[:2] + tuple(out):
        raise ValueError(f"interpolate_backward: grad_output has shape {tuple(np.shape(grad_output))}, "
                         f"the interpolation's output is {shape[:2] + tuple(out)}")
    return _core.resample_backward(grad_output, list(shape), kernel_mode, align, scales)


def pixel_shuffle(input, upscale_factor: int) -> np.ndarray:
    """(*, C * r**2, H, W) -> (*, C, H * r, W * r), r = upscale_factor (sub-pixel convolution's
    rearrangement): out[..., c, h*r + i, w*r + j] = in[..., c*r*r + i*r + j, h, w]."""
    return _core.pixel_shuffle(input, index(upscale_factor, "upscale_factor"))


def pixel_unshuffle(input, downscale_factor: int) -> np.ndarray:
    """The inverse of pixel_shuffle: (*, C, H * r, W * r) -> (*, C * r**2, H, W)."""
    return _core.pixel_unshuffle(input, index(downscale_factor, "downscale_factor"))


def channel_shuffle(input, groups: int) -> np.ndarray:
    """ShuffleNet's channel shuffle: (N, C, *) with the channels seen as (groups, C/groups)
    transposed to (C/groups, groups). Its inverse is channel_shuffle(x, C // groups)."""
    return _core.channel_shuffle(input, index(groups, "groups"))


def channel_scale(input, scale, *, out=None) -> np.ndarray:
    """input * scale[:, :, None, ...]: input (N, C, *), scale (N, C) or (N, C, 1, ...) (the
    squeeze-and-excitation gate). Into `out` when given (out=input scales in place)."""
    return _core.channel_scale(input, scale, out)


def channel_scale_backward(grad_output, input, scale):
    """(grad wrt input, grad wrt scale) of channel_scale: grad_output * scale, and the sum
    over each (n, c) plane of grad_output * input (shaped like scale)."""
    return _core.channel_scale_backward(grad_output, input, scale)


# --- recording versions (autograd) ---------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("interpolate")
def _interpolate_recorded(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                          recompute_scale_factor=None, antialias=False):
    x = _array_of(input)
    shape = list(np.shape(x))
    kernel_mode, align, out, scales = _plan(shape, size, scale_factor, mode, align_corners,
                                            recompute_scale_factor, antialias)
    y = _core.resample(x, kernel_mode, align, out, scales)

    def backward(g):
        return (_core.resample_backward(g, shape, kernel_mode, align, scales),)

    return _record(y, (input,), backward, "interpolate")


@_grad_rule("pixel_shuffle")
def _pixel_shuffle_recorded(input, upscale_factor):
    r = index(upscale_factor, "upscale_factor")
    y = _core.pixel_shuffle(_array_of(input), r)
    return _record(y, (input,), lambda g: (_core.pixel_unshuffle(g, r),), "pixel_shuffle")


@_grad_rule("pixel_unshuffle")
def _pixel_unshuffle_recorded(input, downscale_factor):
    r = index(downscale_factor, "downscale_factor")
    y = _core.pixel_unshuffle(_array_of(input), r)
    return _record(y, (input,), lambda g: (_core.pixel_shuffle(g, r),), "pixel_unshuffle")


@_grad_rule("channel_shuffle")
def _channel_shuffle_recorded(input, groups):
    groups = index(groups, "groups")
    y = _core.channel_shuffle(_array_of(input), groups)
    channels = y.shape[1]  # divisible by groups: the forward checked it
    return _record(y, (input,), lambda g: (_core.channel_shuffle(g, channels // groups),), "channel_shuffle")


@_grad_rule("channel_scale")
def _channel_scale_recorded(input, scale, *, out=None):
    if out is not None:
        raise ValueError("channel_scale: out= cannot be used while recording (the backward reads the input)")
    x, s = _array_of(input), _array_of(scale)
    y = _core.channel_scale(x, s, None)

    def backward(g):
        return _core.channel_scale_backward(g, x, s, _wants(input), _wants(scale))

    return _record(y, (input, scale), backward, "channel_scale")
