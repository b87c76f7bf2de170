"""Pooling over NCHW float32 arrays: max, average and global average, forward and backward.

Semantics and argument conventions are torch.nn.functional's: kernel_size, stride, padding
and dilation are an int or a pair (h, w); stride=None means stride = kernel_size; padding
must be at most half the kernel (ValueError otherwise). With ceil_mode the output size is
rounded up, but a last window that would start in the right padding is dropped.
Output size per axis: floor_or_ceil((in + 2*pad - dilation*(k - 1) - 1) / stride) + 1.
A 3-D input (C, H, W) is treated as a batch of one and the result is 3-D again.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import _items, pair

__all__ = [
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
]


def _as_batch(input):
    """(array as 4-D, whether it was 3-D)."""
    x = np.asarray(input)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape {x.shape}")
    return x, False


def _size4(value, name):
    items = _items(value, name, "a tuple (N, C, H, W)")
    if len(items) == 3:
        items = (1,) + items
    if len(items) != 4:
        raise ValueError(f"{name} must be a tuple (N, C, H, W), got {value!r}")
    return items


def _stride(stride, kernel):
    return kernel if stride is None else pair(stride, "stride")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling. input (N, C, H, W) -> out (N, C, OH, OW).

    With return_indices, returns (out, indices): indices int64 (N, C, OH, OW), the flat
    position ih * W + iw of each maximum inside its input plane (the first maximum in
    row-major window order; NaN counts as the maximum), exactly as PyTorch.
    """
    x, squeeze = _as_batch(input)
    k = pair(kernel_size, "kernel_size")
    out, idx = _core.max_pool2d(x, k, _stride(stride, k), pair(padding, "padding"),
                                pair(dilation, "dilation"), bool(ceil_mode), bool(return_indices))
    if squeeze:
        out = out[0]
        idx = None if idx is None else idx[0]
    return (out, idx) if return_indices else out


def max_pool2d_backward(grad_output, indices, input_size, *, out=None):
    """Gradient of max_pool2d: grad_output (N, C, OH, OW) is added at `indices` (from
    max_pool2d(..., return_indices=True)) into a zero (N, C, H, W) array.
    input_size is (N, C, H, W). An index outside its H*W plane is a ValueError.
    out: optional C-contiguous writeable float32 array of input_size's shape, zeroed and
    filled by the kernel (reuse one across steps to skip page faults); must not overlap
    grad_output or indices."""
    size = _size4(input_size, "input_size")
    g = np.asarray(grad_output)
    idx = np.asarray(indices)
    squeeze = g.ndim == 3
    if squeeze:
        g, idx = g[None], idx[None]
        if out is not None:
            out = np.asarray(out)[None] if np.ndim(out) == 3 else out
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    dx = _core.max_pool2d_backward(g, idx, size, out)
    return dx[0] if squeeze else dx


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling. input (N, C, H, W) -> (N, C, OH, OW).

    Each output is the window sum divided by the window size clipped to the padded input
    (count_include_pad=True) or by the number of real input elements in the window.
    """
    x, squeeze = _as_batch(input)
    k = pair(kernel_size, "kernel_size")
    out = _core.avg_pool2d(x, k, _stride(stride, k), pair(padding, "padding"), bool(ceil_mode),
                           bool(count_include_pad))
    return out[0] if squeeze else out


def avg_pool2d_backward(grad_output, input_size, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    """Gradient of avg_pool2d: grad_output (N, C, OH, OW) -> grad_input (N, C, H, W), with
    input_size (N, C, H, W) and the forward's pooling arguments."""
    size = _size4(input_size, "input_size")
    g = np.asarray(grad_output)
    squeeze = g.ndim == 3
    k = pair(kernel_size, "kernel_size")
    dx = _core.avg_pool2d_backward(g[None] if squeeze else g, size, k, _stride(stride, k),
                                   pair(padding, "padding"), bool(ceil_mode), bool(count_include_pad))
    return dx[0] if squeeze else dx


def global_avg_pool2d(input):
    """Mean over each H x W plane: input (N, C, H, W) -> (N, C, 1, 1)."""
    return _core.global_avg_pool2d(input)


def global_avg_pool2d_backward(grad_output, input_size):
    """Gradient of global_avg_pool2d: grad_output (N, C, 1, 1) -> (N, C, H, W), each
    element grad / (H * W). input_size is (N, C, H, W)."""
    return _core.global_avg_pool2d_backward(grad_output, _size4(input_size, "input_size"))


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


@_grad_rule("max_pool2d")
def _max_pool2d_recorded(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    x = _array_of(input)
    y, idx = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    shape = np.shape(x)
    t = _record(y, (input,), lambda g: (max_pool2d_backward(g, idx, shape),), "max_pool2d")
    return (t, idx) if return_indices else t


@_grad_rule("avg_pool2d")
def _avg_pool2d_recorded(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    x = _array_of(input)
    y = avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    shape = np.shape(x)
    return _record(y, (input,), lambda g: (avg_pool2d_backward(g, shape, kernel_size, stride, padding, ceil_mode,
                                                               count_include_pad),), "avg_pool2d")


@_grad_rule("global_avg_pool2d")
def _global_avg_pool2d_recorded(input):
    x = _array_of(input)
    y = global_avg_pool2d(x)
    shape = np.shape(x)
    return _record(y, (input,), lambda g: (global_avg_pool2d_backward(g, shape),), "global_avg_pool2d")
