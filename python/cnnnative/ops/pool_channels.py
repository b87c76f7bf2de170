"""Cross-channel pooling: maxout (max_pool_channels) and its average counterpart.

Over an (N, C, ...) array, groups of k consecutive channels are pooled into one:
out[:, g] = max (or mean) of input[:, g*k : (g+1)*k], so (N, C, ...) -> (N, C/k, ...). The
max is torch's x.view(N, C // k, k, ...).max(2): the first maximum of each group, the first
NaN if there is one; the arg-max piece (0..k-1) is kept for the backward pass, which sends
each gradient to that piece only. C not divisible by k is a ValueError naming both.
Goodfellow et al.'s maxout unit is a Linear or Conv2d with k * units outputs followed by
this; pooling over channels learns invariance to whatever the k pieces detect.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import index

__all__ = ["max_pool_channels", "max_pool_channels_backward", "avg_pool_channels", "avg_pool_channels_backward"]


def _check(x, kernel_size, op, name="kernel_size"):
    k = index(kernel_size, name)
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, ...), got shape {x.shape}")
    if k <= 0 or x.shape[1] % k:
        raise ValueError(f"{op}: {name}={k} must be positive and divide the {x.shape[1]} channels of the "
                         f"input (shape {x.shape})")
    return k


def max_pool_channels(input, kernel_size, return_indices=False):
    """Max over groups of kernel_size consecutive channels: (N, C, ...) -> (N, C/k, ...).
    With return_indices, (out, pieces): int32 arg-max piece in [0, k) per output."""
    x = np.asarray(input)
    k = _check(x, kernel_size, "max_pool_channels")
    y, idx = _core.max_pool_channels(x, k, bool(return_indices))
    return (y, idx) if return_indices else y


def max_pool_channels_backward(grad_output, indices, input_size, kernel_size):
    """Gradient of max_pool_channels: each grad_output element goes to the channel of its
    group that `indices` (the pieces returned with return_indices) names; zeros elsewhere."""
    return _core.max_pool_channels_backward(grad_output, np.asarray(indices, np.int32),
                                            [int(d) for d in input_size], index(kernel_size, "kernel_size"))


def avg_pool_channels(input, kernel_size):
    """Mean over groups of kernel_size consecutive channels: (N, C, ...) -> (N, C/k, ...)."""
    x = np.asarray(input)
    return _core.avg_pool_channels(x, _check(x, kernel_size, "avg_pool_channels"))


def avg_pool_channels_backward(grad_output, input_size, kernel_size):
    """Gradient of avg_pool_channels: grad_output / k copied to each channel of its group."""
    return _core.avg_pool_channels_backward(grad_output, [int(d) for d in input_size],
                                            index(kernel_size, "kernel_size"))


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("max_pool_channels")
def _max_pool_channels_recorded(input, kernel_size, return_indices=False):
    x = _array_of(input)
    y, idx = max_pool_channels(x, kernel_size, return_indices=True)
    shape, k = np.shape(x), index(kernel_size, "kernel_size")
    t = _record(y, (input,), lambda g: (max_pool_channels_backward(g, idx, shape, k),), "max_pool_channels")
    return (t, idx) if return_indices else t


@_grad_rule("avg_pool_channels")
def _avg_pool_channels_recorded(input, kernel_size):
    x = _array_of(input)
    y = avg_pool_channels(x, kernel_size)
    shape, k = np.shape(x), index(kernel_size, "kernel_size")
    return _record(y, (input,), lambda g: (avg_pool_channels_backward(g, shape, k),), "avg_pool_channels")
