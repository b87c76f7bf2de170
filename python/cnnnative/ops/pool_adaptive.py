"""Adaptive average and max pooling with any output size (torch.nn.functional's
adaptive_avg_pool1d/2d/3d and adaptive_max_pool1d/2d/3d).

Output i of an axis of `in` inputs pools the window [floor(i*in/out), ceil((i+1)*in/out)),
torch's rule, so windows overlap when out does not divide in. output_size is an int or a
tuple with one entry per pooled dimension; a None entry keeps that input size. Sizes of 0
or less are a ValueError. All dimensions run on one C++ kernel over (N, C, D, H, W): 1-D
and 2-D inputs are viewed with D = 1 (and H = 1). Max pooling's indices are flat in the
input plane (h*W + w for 2-D, positions along L for 1-D), as torch. Unbatched inputs
(without N) give unbatched outputs.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import index

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool_backward",
           "adaptive_max_pool_backward"]


def output_size_of(output_size, input_shape, dims, op):
    """The output size per pooled dimension (the last `dims` of input_shape), Nones filled
    in from the input; anything but positive ints (or None) is an error naming output_size."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != dims:
            raise ValueError(f"{op}: output_size must be an int or a {dims}-tuple, got {output_size!r}")
        items = tuple(output_size)
    else:
        items = (output_size,) * dims
    spatial = tuple(input_shape[-dims:])
    sizes = tuple(spatial[i] if v is None else index(v, "output_size") for i, v in enumerate(items))
    if min(sizes) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r} (input spatial size {spatial})")
    return sizes


def _as_volume(x, dims, op):
    """The (N, C, D, H, W) view of a (N, C, *spatial) or unbatched (C, *spatial) input."""
    if x.ndim not in (dims + 1, dims + 2):
        spatial = ("L", "H, W", "D, H, W")[dims - 1]
        raise ValueError(f"{op}: input must be (N, C, {spatial}) or unbatched (C, {spatial}), got shape {x.shape}")
    batched = x if x.ndim == dims + 2 else x[None]
    n, c, *spatial = batched.shape
    return batched.reshape((n, c) + (1,) * (3 - dims) + tuple(spatial))


def _pad3(sizes):
    return (1,) * (3 - len(sizes)) + tuple(sizes)


def _uniform_window(volume_shape, sizes3):
    """The kernel (= stride) when every output size divides its input size: the windows
    are then disjoint and equal, i.e. plain pooling, which the (vectorised) 3-D pooling
    kernels run with the same results, indices and NaN rule. None otherwise."""
    spatial = volume_shape[2:]
    if min(sizes3) <= 0 or any(n % o for n, o in zip(spatial, sizes3)):
        return None
    return tuple(n // o for n, o in zip(spatial, sizes3))


def _avg(input, output_size, dims, op):
    x = np.asarray(input)
    v = _as_volume(x, dims, op)
    sizes = output_size_of(output_size, x.shape, dims, op)
    k = _uniform_window(v.shape, _pad3(sizes))
    if k is not None and v.shape[0] * v.shape[1] > 0:
        y = _core.avg_pool3d(v, k, k, (0, 0, 0), False, True)
    else:
        y = _core.adaptive_avg_pool(v, _pad3(sizes))
    return y.reshape(x.shape[:-dims] + sizes)


def _max(input, output_size, return_indices, dims, op):
    x = np.asarray(input)
    v = _as_volume(x, dims, op)
    sizes = output_size_of(output_size, x.shape, dims, op)
    k = _uniform_window(v.shape, _pad3(sizes))
    if k is not None and v.shape[0] * v.shape[1] > 0:
        y, idx = _core.max_pool3d(v, k, k, (0, 0, 0), (1, 1, 1), False, bool(return_indices))
    else:
        y, idx = _core.adaptive_max_pool(v, _pad3(sizes), bool(return_indices))
    y = y.reshape(x.shape[:-dims] + sizes)
    return (y, idx.reshape(y.shape)) if return_indices else y


def adaptive_avg_pool1d(input, output_size):
    """(N, C, L) -> (N, C, output_size), each output the mean of its adaptive window."""
    return _avg(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """(N, C, H, W) -> (N, C, OH, OW), each output the mean of its adaptive window."""
    return _avg(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """(N, C, D, H, W) -> (N, C, OD, OH, OW), each output the mean of its adaptive window."""
    return _avg(input, output_size, 3, "adaptive_avg_pool3d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """(N, C, L) -> (N, C, output_size); with return_indices also the int64 positions."""
    return _max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """(N, C, H, W) -> (N, C, OH, OW); with return_indices also the int64 flat positions h*W + w."""
    return _max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """(N, C, D, H, W) -> (N, C, OD, OH, OW); with return_indices also d*H*W + h*W + w."""
    return _max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def _volume_shape(shape, dims):
    shape = tuple(int(d) for d in shape)
    batched = shape if len(shape) == dims + 2 else (1,) + shape
    return batched[:2] + (1,) * (3 - dims) + batched[2:]


def _backward_dims(g, size, op):
    """Pooled dimensions of a batched (N, C, *spatial) gradient that goes with input_size."""
    if len(size) != g.ndim or not 3 <= g.ndim <= 5 or tuple(size[:2]) != g.shape[:2]:
        raise ValueError(f"{op}: grad_output of shape {g.shape} does not go with input_size {size} "
                         f"(both (N, C, *spatial) with 1 to 3 spatial dimensions)")
    return g.ndim - 2


def adaptive_avg_pool_backward(grad_output, input_size):
    """Gradient of adaptive_avg_pool1d/2d/3d: grad_output (N, C, *out) -> input_size
    (N, C, *in), each window's gradient shared evenly over it."""
    g, size = np.asarray(grad_output), tuple(int(d) for d in input_size)
    return _avg_backward(g, size, _backward_dims(g, size, "adaptive_avg_pool_backward"))


def adaptive_max_pool_backward(grad_output, indices, input_size):
    """Gradient of adaptive_max_pool1d/2d/3d: grad_output (N, C, *out) added at `indices`
    into zeros of input_size (N, C, *in). An index outside its plane is a ValueError."""
    g, idx, size = np.asarray(grad_output), np.asarray(indices), tuple(int(d) for d in input_size)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    if idx.shape != g.shape:
        raise ValueError(f"adaptive_max_pool_backward: indices has shape {idx.shape} but grad_output {g.shape}")
    return _max_backward(g, idx, size, _backward_dims(g, size, "adaptive_max_pool_backward"))


# --- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _dims_of(op):
    return int(op[-2])


def _record_avg(op):
    dims = _dims_of(op)

    @_grad_rule(op)
    def recorded(input, output_size):
        x = _array_of(input)
        y = _avg(x, output_size, dims, op)
        shape = np.shape(x)
        return _record(y, (input,), lambda g: (_avg_backward(g, shape, dims),), op)

    return recorded


def _record_max(op):
    dims = _dims_of(op)

    @_grad_rule(op)
    def recorded(input, output_size, return_indices=False):
        x = _array_of(input)
        y, idx = _max(x, output_size, True, dims, op)
        shape = np.shape(x)
        t = _record(y, (input,), lambda g: (_max_backward(g, idx, shape, dims),), op)
        return (t, idx) if return_indices else t

    return recorded


def _avg_backward(g, shape, dims):
    gv = g.reshape(_volume_shape(g.shape, dims))
    volume = _volume_shape(shape, dims)
    k = _uniform_window(volume, gv.shape[2:])
    if k is not None and volume[0] * volume[1] > 0:
        return _core.avg_pool3d_backward(gv, volume, k, k, (0, 0, 0), False, True).reshape(shape)
    return _core.adaptive_avg_pool_backward(gv, volume).reshape(shape)


def _max_backward(g, idx, shape, dims):
    gv = g.reshape(_volume_shape(g.shape, dims))
    # Indices are flat in the input volume on both forward paths: one scatter serves both.
    return _core.adaptive_max_pool_backward(gv, idx.reshape(gv.shape), _volume_shape(shape, dims)).reshape(shape)


for _op in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d"):
    _record_avg(_op)
for _op in ("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"):
    _record_max(_op)
del _op
