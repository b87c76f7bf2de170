"""Plain float64 numpy references for the normalizations (the truth the kernels are
tested against). Written from the textbook definitions, independently of the C++:
statistics with numpy's mean/var, backward by the step-by-step chain rule, local
response norm with explicit loops over the channel window.
"""
from __future__ import annotations

import numpy as np


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _channel_shape(x):
    """Shape that broadcasts a (C,) vector against x (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes` -> (xhat, mean, invstd), keepdims."""
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    return (x - mean) * invstd, mean, invstd


def normalize_backward(dxhat, x, axes, mean, invstd):
    """Gradient of xhat = (x - mean(x)) * (var(x) + eps)^-1/2 over `axes`, chain rule
    through var and mean one step at a time."""
    count = np.prod([x.shape[a] for a in axes])
    xmu = x - mean
    dvar = (dxhat * xmu).sum(axis=axes, keepdims=True) * -0.5 * invstd ** 3
    dmean = (-dxhat * invstd).sum(axis=axes, keepdims=True) + dvar * (-2.0 * xmu).sum(
        axis=axes, keepdims=True) / count
    return dxhat * invstd + dvar * 2.0 * xmu / count + dmean / count


# ---- batch norm ---------------------------------------------------------------------

def batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """-> (y, save_mean (C,), save_invstd (C,), new_running_mean, new_running_var)."""
    x = _f64(x)
    axes = (0,) + tuple(range(2, x.ndim))
    cs = _channel_shape(x)
    rm, rv = _f64(running_mean), _f64(running_var)
    if training:
        xhat, mean, invstd = normalize(x, axes, eps)
        count = x.size // x.shape[1]
        if rm is not None:
            var = ((x - mean) ** 2).sum(axis=axes) / (count - 1)
            rm = (1 - momentum) * rm + momentum * mean.reshape(-1)
            rv = (1 - momentum) * rv + momentum * var
        mean, invstd = mean.reshape(-1), invstd.reshape(-1)
    else:
        mean, invstd = rm, 1.0 / np.sqrt(rv + eps)
        xhat = (x - mean.reshape(cs)) * invstd.reshape(cs)
    y = xhat
    if weight is not None:
        y = y * _f64(weight).reshape(cs)
    if bias is not None:
        y = y + _f64(bias).reshape(cs)
    return y, mean, invstd, rm, rv


def batch_norm_backward(dy, x, weight, mean, invstd, training):
    """-> (dx, dweight, dbias); dweight/dbias None when weight is None."""
    dy, x = _f64(dy), _f64(x)
    axes = (0,) + tuple(range(2, x.ndim))
    cs = _channel_shape(x)
    mean, invstd = _f64(mean).reshape(cs), _f64(invstd).reshape(cs)
    w = np.ones(cs) if weight is None else _f64(weight).reshape(cs)
    dxhat = dy * w
    if training:
        dx = normalize_backward(dxhat, x, axes, mean, invstd)
    else:
        dx = dxhat * invstd
    if weight is None:
        return dx, None, None
    return dx, (dy * (x - mean) * invstd).sum(axis=axes), dy.sum(axis=axes)


# ---- group / instance norm ----------------------------------------------------------

def group_norm(x, groups, weight, bias, eps):
    """-> (y, mean (N, G), rstd (N, G))."""
    x = _f64(x)
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1)
    xhat, mean, invstd = normalize(xg, (2,), eps)
    y = xhat.reshape(x.shape)
    cs = _channel_shape(x)
    if weight is not None:
        y = y * _f64(weight).reshape(cs)
    if bias is not None:
        y = y + _f64(bias).reshape(cs)
    return y, mean.reshape(n, groups), invstd.reshape(n, groups)


def group_norm_backward(dy, x, groups, mean, rstd, weight):
    dy, x = _f64(dy), _f64(x)
    n, c = x.shape[:2]
    cs = _channel_shape(x)
    w = np.ones(cs) if weight is None else _f64(weight).reshape(cs)
    dxhat = (dy * w).reshape(n, groups, -1)
    mean3 = _f64(mean).reshape(n, groups, 1)
    rstd3 = _f64(rstd).reshape(n, groups, 1)
    dx = normalize_backward(dxhat, x.reshape(n, groups, -1), (2,), mean3, rstd3).reshape(x.shape)
    if weight is None:
        return dx, None, None
    xhat = ((x.reshape(n, groups, -1) - mean3) * rstd3).reshape(x.shape)
    axes = (0,) + tuple(range(2, x.ndim))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def instance_norm_running(x, running_mean, running_var, momentum):
    """Running statistics after one instance_norm step: batch average of the
    per-instance mean and unbiased variance."""
    x = _f64(x)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    mean = flat.mean(axis=2).mean(axis=0)
    var = flat.var(axis=2, ddof=1).mean(axis=0)
    return ((1 - momentum) * _f64(running_mean) + momentum * mean,
            (1 - momentum) * _f64(running_var) + momentum * var)


# ---- layer norm ---------------------------------------------------------------------

def layer_norm(x, normalized_shape, weight, bias, eps):
    """-> (y, mean, rstd) with mean/rstd shaped like x with 1 in the normalized dims."""
    x = _f64(x)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    y, mean, invstd = normalize(x, axes, eps)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y, mean, invstd


def layer_norm_backward(dy, x, normalized_shape, mean, rstd, weight):
    dy, x = _f64(dy), _f64(x)
    k = len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    stat_shape = x.shape[: x.ndim - k] + (1,) * k
    mean, rstd = _f64(mean).reshape(stat_shape), _f64(rstd).reshape(stat_shape)
    w = 1.0 if weight is None else _f64(weight)
    dx = normalize_backward(dy * w, x, axes, mean, rstd)
    if weight is None:
        return dx, None, None
    lead = tuple(range(x.ndim - k))
    return dx, (dy * (x - mean) * rstd).sum(axis=lead), dy.sum(axis=lead)


# ---- local response norm ------------------------------------------------------------

def _lrn_window(c, channels, size):
    return range(max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1))


def local_response_norm(x, size, alpha, beta, k):
    x = _f64(x)
    channels = x.shape[1]
    d = np.empty_like(x)
    for c in range(channels):
        acc = np.zeros_like(x[:, 0])
        for j in _lrn_window(c, channels, size):
            acc += x[:, j] ** 2
        d[:, c] = k + alpha / size * acc
    return x * d ** -beta


def local_response_norm_backward(dy, x, size, alpha, beta, k):
    """y_c = x_c * d_c^-beta; d_c depends on x_j for every j in c's window."""
    dy, x = _f64(dy), _f64(x)
    channels = x.shape[1]
    d = np.empty_like(x)
    for c in range(channels):
        d[:, c] = k + alpha / size * sum(x[:, j] ** 2 for j in _lrn_window(c, channels, size))
    dx = dy * d ** -beta
    for c in range(channels):
        # d y_c / d x_j = x_c * (-beta) * d_c^(-beta-1) * alpha/size * 2 x_j
        common = dy[:, c] * x[:, c] * -beta * d[:, c] ** (-beta - 1) * alpha / size * 2.0
        for j in _lrn_window(c, channels, size):
            dx[:, j] += common * x[:, j]
    return dx
