"""Plain float64 numpy references for the ops area (pooling, activations, softmax, losses,
linear, SGD), written from the definitions (PyTorch's documented semantics), independent of
the C++ kernels. Also the finite-difference helper and the NaN-fill fixture the ops tests use.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from cnnnative import _core


@pytest.fixture(autouse=True)
def nan_fill():
    """Every output the ops bindings allocate is NaN-filled before its kernel runs, so a
    forgotten element fails the comparison instead of passing on stale memory."""
    _core._set_debug_fill(True)
    yield
    _core._set_debug_fill(False)


# --- finite differences ----------------------------------------------------------------------

def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


# --- pooling ---------------------------------------------------------------------------------

def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's rule: floor/ceil((n + 2p - d(k-1) - 1) / s) + 1, and in ceil mode the last
    window must start inside the input or the left padding."""
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _taps(o, s, p, d, k, n):
    """In-bounds input positions of window o along one axis, in order."""
    start = o * s - p
    return [start + i * d for i in range(k) if 0 <= start + i * d < n]


def _first_tap(start, d):
    while start < 0:
        start += d
    return start


def max_pool2d(x, k, s, p, d, ceil_mode):
    """(out, indices) with first-maximum-in-row-major-order ties and NaN winning (the last
    NaN, as PyTorch's `val > max || isnan(val)` scan)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH = pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.empty((N, C, OH, OW))
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for oh in range(OH):
        rows = _taps(oh, s[0], p[0], d[0], k[0], H)
        for ow in range(OW):
            cols = _taps(ow, s[1], p[1], d[1], k[1], W)
            if not rows or not cols:
                out[:, :, oh, ow] = -np.inf
                idx[:, :, oh, ow] = (_first_tap(oh * s[0] - p[0], d[0]) * W
                                     + _first_tap(ow * s[1] - p[1], d[1]))
                continue
            flat = [r * W + c for r in rows for c in cols]
            vals = x.reshape(N, C, H * W)[:, :, flat]          # (N, C, taps)
            best = np.full((N, C), -np.inf)
            arg = np.full((N, C), flat[0], dtype=np.int64)
            for t, f in enumerate(flat):
                v = vals[:, :, t]
                take = (v > best) | np.isnan(v)
                best = np.where(take, v, best)
                arg = np.where(take, f, arg)
            out[:, :, oh, ow] = best
            idx[:, :, oh, ow] = arg
    return out, idx


def avg_pool2d(x, k, s, p, ceil_mode, count_include_pad):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH = pool_out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = pool_out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        h0 = oh * s[0] - p[0]
        h1 = min(h0 + k[0], H + p[0])
        for ow in range(OW):
            w0 = ow * s[1] - p[1]
            w1 = min(w0 + k[1], W + p[1])
            hs, he, ws, we = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            if hs >= he or ws >= we:
                continue
            div = (h1 - h0) * (w1 - w0) if count_include_pad else (he - hs) * (we - ws)
            out[:, :, oh, ow] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / div
    return out


def max_pool2d_backward(g, idx, input_size):
    N, C, H, W = input_size
    dx = np.zeros((N, C, H * W))
    g = np.asarray(g, dtype=np.float64).reshape(N, C, -1)
    idx = idx.reshape(N, C, -1)
    for n in range(N):
        for c in range(C):
            np.add.at(dx[n, c], idx[n, c], g[n, c])
    return dx.reshape(N, C, H, W)


# --- activations and softmax -----------------------------------------------------------------

def relu(x):
    return np.maximum(np.asarray(x, np.float64), 0.0)


def relu6(x):
    return np.clip(np.asarray(x, np.float64), 0.0, 6.0)


def activation(x, act):
    """The engine's fused activations by name: "relu", "relu6", or "none" (x unchanged)."""
    return relu(x) if act == "relu" else relu6(x) if act == "relu6" else x


def leaky_relu(x, slope):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, x * slope)


def sigmoid(x):
    x = np.asarray(x, np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def tanh(x):
    return np.tanh(np.asarray(x, np.float64))


def log_softmax(x, dim):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


def softmax(x, dim):
    return np.exp(log_softmax(x, dim))


# --- losses ----------------------------------------------------------------------------------

def cross_entropy(x, t, reduction="mean"):
    lp = log_softmax(x, 1)
    per = -lp[np.arange(lp.shape[0]), np.asarray(t)]
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.mean() if per.size else math.nan


# --- SGD (PyTorch's torch.optim.SGD algorithm, single tensor) --------------------------------

def sgd_reference(param, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """Runs len(grads) steps in float64; returns the final parameter."""
    p = np.array(param, dtype=np.float64)
    buf = None
    for g in grads:
        d = np.asarray(g, np.float64)
        if weight_decay != 0:
            d = d + weight_decay * p
        if momentum != 0:
            if buf is None:
                buf = d.copy()
            else:
                buf = momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p
