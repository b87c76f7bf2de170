"""Fast convolution algorithms: switches, autotuning, the depthwise weight gradient and
Winograd with pre-transformed weights (for inference).

The algorithms themselves run through ops.conv2d(..., algo=...):
  "winograd2x2", "winograd4x4", "winograd6x6", "winograd" (tile chosen by shape) —
      3x3, stride 1, dilation 1, any padding and groups; forward and input gradient.
  "winograd1x4", "winograd1x6", "winograd1d" (F(6,3)) — 1-D Winograd F(m, 3) for conv1d's
      3-tap layers (height-1 input, 1x3 kernel, stride 1, any dilation and padding,
      groups 1); forward, input gradient and (under "auto" for >= 192 channels, or
      CNNNATIVE_ALGO) the weight gradient; the compiled engine runs it too.
  "fft8", "fft16", "fft" (window chosen by shape) — tiled overlap-save FFT, stride 1,
      dilation 1, kernels up to the window; forward and input gradient.
  "direct" — depthwise (groups == channels, any channel multiplier, kernel, stride,
      padding, dilation); forward, input gradient and (depthwise_conv2d_weight) weight
      gradient.
  "auto" — a measured heuristic, or the autotuner when set_autotune(True).

Error bounds (float32; asserted in tests/test_conv_fast.py), as
max|y - y_exact| / (max|x| * max|w| * sqrt(C/groups * 9)):
  measured (C up to 512): im2col 1.2e-7, F(2x2) 1.2e-7, F(4x4) 1.9e-6, F(6x6) 3.6e-6;
  asserted bounds: winograd2x2 <= 1e-6, winograd4x4 <= 8e-6, winograd6x6 <= 2e-5;
  1-D F(4,3) / F(6,3) (reduction 3C) measured 6-9e-7 at C = 256, asserted <= 4e-6
  (tests/test_conv1d_winograd.py);
  fft (any window) measured ~8e-8, asserted <= 1e-6; direct asserted <= 5e-6 (reduction R*S).
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import _items, index, pair, padding4

__all__ = [
    "set_fast_algorithms",
    "get_fast_algorithms",
    "set_autotune",
    "get_autotune",
    "clear_autotune_cache",
    "depthwise_conv2d_weight",
    "winograd_prepare",
    "winograd_conv2d_prepared",
]

WINOGRAD_ERROR_BOUND = {"winograd2x2": 1e-6, "winograd4x4": 8e-6, "winograd6x6": 2e-5}


def set_fast_algorithms(winograd: bool = True, fft: bool = True) -> None:
    """Switch Winograd / FFT on or off for every call (auto and forced names alike; a
    forced name that is off is a ValueError). CNNNATIVE_WINOGRAD=0 / CNNNATIVE_FFT=0 in
    the environment turn them off for the whole process. Clears the autotune cache."""
    _core.set_fast_algorithms(bool(winograd), bool(fft))


def get_fast_algorithms() -> dict:
    """{"winograd": bool, "fft": bool}: which fast algorithms may run."""
    return dict(_core.get_fast_algorithms())


def set_autotune(on: bool = True) -> None:
    """Opt in (or out) of autotuning: algo="auto" then times every algorithm that supports
    a shape the first time it meets it (batch capped at 4, scratch data) and caches the
    fastest per (shape, threads, ISA). The cache is shared by threads and locked."""
    _core.set_autotune(bool(on))


def get_autotune() -> bool:
    """Whether algo="auto" autotunes."""
    return bool(_core.get_autotune())


def clear_autotune_cache() -> None:
    """Forget every autotuned choice."""
    _core.clear_autotune_cache()


def depthwise_conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=None,
                            *, with_bias=False):
    """Weight gradient of a depthwise conv2d (groups == channels), by the direct kernel.

    input (N, C, H, W); weight_size (K, 1, R, S) with K a multiple of C;
    grad_output (N, K, OH, OW). groups defaults to C.
    Returns grad_weight (K, 1, R, S), or (grad_weight, grad_bias (K,)) when with_bias.
    """
    x = np.asarray(input)
    if groups is None:
        if x.ndim != 4:
            raise ValueError(f"input must be 4-D, got shape {x.shape}")
        groups = x.shape[1]
    dw, db = _core.depthwise_conv2d_weight(input, _items(weight_size, "weight_size", "a 4-tuple"), grad_output,
                                           pair(stride, "stride"), padding4(padding),
                                           pair(dilation, "dilation"), index(groups, "groups"), bool(with_bias))
    return (dw, db) if with_bias else dw


def winograd_prepare(weight, groups=1, tile=0):
    """Transform 3x3 weights (K, C/groups, 3, 3) once for winograd_conv2d_prepared.

    tile: 2, 4 or 6 (F(tile x tile, 3x3)); 0 picks 4. The result holds
    (tile+2)^2/9 times the weight's memory (1.8x, 4x, 7.1x); see its .nbytes.
    """
    return _core.winograd_prepare(weight, index(groups, "groups"), index(tile, "tile") or 4)


def winograd_conv2d_prepared(input, prepared, padding=1, bias=None, residual=None, activation="none"):
    """Stride-1 3x3 convolution with prepared weights and a fused epilogue:
    out = activation(conv(input) + bias + residual).

    input (N, C, H, W); prepared from winograd_prepare; bias (K,) or None;
    residual (N, K, OH, OW) or None; activation "none", "relu" or "relu6".
    Returns (N, K, OH, OW).
    """
    return _core.winograd_forward_prepared(input, prepared, padding4(padding), bias, residual, str(activation))
