"""Power-average (LP) pooling, torch.nn.functional.lp_pool1d/2d:
out = (sum over the window of x**p) ** (1/p), p = norm_type (p = 1: sum pooling; large p
tends to max pooling). Computed exactly as torch does, on the average-pooling kernel:
(avg_pool(x**p, kernel, stride, padding=0, ceil_mode) * kernel_elements) ** (1/p), so a
ceil_mode window that overhangs the input is scaled the way torch scales it, and negative
inputs with a fractional p give NaN as in torch.
"""
from __future__ import annotations

import numpy as np

from ._args import finite, pair
from ._tensor_args import float32
from .conv1d import single
from .pool import avg_pool2d, avg_pool2d_backward

__all__ = ["lp_pool1d", "lp_pool2d"]


def _norm(norm_type):
    return finite(norm_type, "norm_type", minimum=0.0, positive=True)


def _geometry2d(kernel_size, stride):
    k = pair(kernel_size, "kernel_size")
    return k, (k if stride is None else pair(stride, "stride"))


def _as_image1d(x):
    if x.ndim not in (2, 3):
        raise ValueError(f"lp_pool1d: input must be (N, C, L) or (C, L), got shape {x.shape}")
    return x[:, None, :] if x.ndim == 2 else x[:, :, None, :]


def _lp(x4, p, k, s, ceil_mode):
    """(y, mean of x**p) over the 4-D view x4."""
    mean = avg_pool2d(np.power(x4, np.float32(p)), k, s, 0, ceil_mode, True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.power(mean * np.float32(k[0] * k[1]), np.float32(1.0 / p))
    return y.astype(np.float32, copy=False), mean


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(N, C, H, W) -> (N, C, OH, OW), each output the p-norm of its (unpadded) window."""
    x = float32(input, "lp_pool2d", "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"lp_pool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    k, s = _geometry2d(kernel_size, stride)
    return _lp(x, _norm(norm_type), k, s, ceil_mode)[0]


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(N, C, L) -> (N, C, OL), each output the p-norm of its (unpadded) window."""
    x = float32(input, "lp_pool1d", "input")
    k = single(kernel_size, "kernel_size")
    s = k if stride is None else single(stride, "stride")
    y4 = _lp(_as_image1d(x), _norm(norm_type), (1, k), (1, s), ceil_mode)[0]
    return y4[..., 0, :] if x.ndim == 3 else y4[:, 0, :]


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _lp_backward(g4, x4, y4, mean, p, k, s, ceil_mode):
    """torch's chain: pow(1/p) <- mul(K) <- sign*relu(abs) (gradient 0 where the mean is 0)
    <- avg_pool <- pow(p)."""
    K = np.float32(k[0] * k[1])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g_mean = g4 * np.float32(1.0 / p) * np.power(mean * K, np.float32(1.0 / p - 1.0)) * K
        g_mean = np.where(mean == 0, np.float32(0), g_mean).astype(np.float32)
        g_pow = avg_pool2d_backward(g_mean, x4.shape, k, s, 0, ceil_mode, True)
        return (g_pow * np.float32(p) * np.power(x4, np.float32(p - 1.0))).astype(np.float32)


@_grad_rule("lp_pool2d")
def _lp_pool2d_recorded(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    x = float32(_array_of(input), "lp_pool2d", "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"lp_pool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    p = _norm(norm_type)
    k, s = _geometry2d(kernel_size, stride)
    y, mean = _lp(x, p, k, s, ceil_mode)
    return _record(y, (input,), lambda g: (_lp_backward(g, x, y, mean, p, k, s, ceil_mode),), "lp_pool2d")


@_grad_rule("lp_pool1d")
def _lp_pool1d_recorded(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    x = float32(_array_of(input), "lp_pool1d", "input")
    p = _norm(norm_type)
    kk = single(kernel_size, "kernel_size")
    k, s = (1, kk), (1, kk if stride is None else single(stride, "stride"))
    x4 = _as_image1d(x)
    y4, mean = _lp(x4, p, k, s, ceil_mode)
    y = y4[..., 0, :] if x.ndim == 3 else y4[:, 0, :]

    def backward(g):
        g4 = g.reshape(y4.shape)
        return (_lp_backward(g4, x4, y4, mean, p, k, s, ceil_mode).reshape(x.shape),)

    return _record(y, (input,), backward, "lp_pool1d")
