"""Channel dropout (dropout2d / dropout3d: whole feature maps zeroed) and alpha dropout (keeps
SELU's zero mean and unit variance), with the same counter-based generator as dropout: the
mask depends only on the seed and the position (not on threads or ISA), so a seed repeats it.

Training only: with training=False or p == 0 the input (as float32) is returned. p must be
in [0, 1]; p == 1 drops everything (zeros), as PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32, index
from .activation import _next_seed
from .activation_more import SELU_ALPHA, SELU_SCALE

__all__ = ["dropout2d", "dropout3d", "alpha_dropout"]

# The value SELU gives for x -> -inf, which alpha dropout sets dropped units to.
_ALPHA_PRIME = -SELU_ALPHA * SELU_SCALE


def _check_p(p, op) -> float:
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    return p


def _seed(seed) -> int:
    return _next_seed() if seed is None else index(seed, "seed") & (2**64 - 1)


def _keep(n: int, p: float, seed) -> np.ndarray:
    """n keep flags (uint8, 1 = kept), each kept with probability 1 - p, from the dropout
    core's generator."""
    if p == 1.0:
        return np.zeros(n, np.uint8)
    _, mask = _core.dropout(np.ones(n, np.float32), p, _seed(seed))
    return mask


def _feature_scale(shape, p: float, seed=None, *, op: str = "dropout2d") -> np.ndarray:
    """Per-(sample, channel) scale for an input of `shape` (N, C, ...): 1 / (1 - p) for kept
    channels, 0 for dropped ones, shaped (N, C, 1, ...) to broadcast against the input."""
    p = _check_p(p, op)
    n, c = int(shape[0]), int(shape[1])
    keep = _keep(n * c, p, seed).astype(np.float32)
    if p < 1.0:
        keep *= np.float32(1.0) / np.float32(1.0 - p)  # 1.0f / float(1 - p), as dropout
    return keep.reshape((n, c) + (1,) * (len(shape) - 2))


def _channel_dropout(input, p, training, seed, op, dims, unbatched):
    p = _check_p(p, op)
    x = as_float32(input, f"{op}: input")
    if x.ndim not in dims:
        raise ValueError(f"{op}: expected a {dims[0]}-D or {dims[1]}-D input (channels on dim "
                         f"{'0 or 1' if unbatched else '1'}), got shape {x.shape}")
    if not training or p == 0.0:
        return x, None
    shape = x.shape if not (unbatched and x.ndim == dims[0]) else (1,) + x.shape
    scale = _feature_scale(shape, p, seed, op=op)
    if shape != x.shape:
        scale = scale[0]
    return np.multiply(x, scale, dtype=np.float32), scale


def dropout2d(input, p: float = 0.5, training: bool = True, *, seed=None) -> np.ndarray:
    """Zero whole channels (dim 1) of a (N, C, H, W) input with probability p and scale the
    rest by 1 / (1 - p). A 3-D input is (N, C, L), as PyTorch treats it. seed: as dropout."""
    return _channel_dropout(input, p, training, seed, "dropout2d", (3, 4), False)[0]


def dropout3d(input, p: float = 0.5, training: bool = True, *, seed=None) -> np.ndarray:
    """Zero whole channels of a (N, C, D, H, W) input, or of an unbatched (C, D, H, W) one,
    with probability p and scale the rest by 1 / (1 - p). seed: as dropout."""
    return _channel_dropout(input, p, training, seed, "dropout3d", (4, 5), True)[0]


def _alpha_affine(shape, p: float, seed=None):
    """(a_keep, b): alpha dropout's output is input * a_keep + b, with a_keep = a for kept
    units and 0 for dropped ones, b = a * alpha' * (p - 1 + keep) (alpha' = -SELU scale *
    alpha), a = ((1 - p) (1 + p alpha'^2))^(-1/2): mean and variance are kept."""
    p = _check_p(p, "alpha_dropout")
    n = int(np.prod(shape, dtype=np.int64))
    keep = _keep(n, p, seed).reshape(shape).astype(np.float32)
    a = 1.0 / np.sqrt((_ALPHA_PRIME**2 * p + 1.0) * (1.0 - p))
    # PyTorch: b = (keep - 1) * (alpha * a) + alpha * a * p with alpha = |alpha'|.
    alpha = -_ALPHA_PRIME
    b = (keep - np.float32(1.0)) * np.float32(alpha * a) + np.float32(alpha * a * p)
    return keep * np.float32(a), b


def alpha_dropout(input, p: float = 0.5, training: bool = False, *, seed=None) -> np.ndarray:
    """Alpha dropout (for SELU networks): dropped units are set to SELU's negative
    saturation, then an affine map restores zero mean and unit variance. Any shape.
    training defaults to False as in torch.nn.functional. p == 1 gives zeros."""
    p = _check_p(p, "alpha_dropout")
    x = as_float32(input, "alpha_dropout: input")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    scale, shift = _alpha_affine(x.shape, p, seed)
    return x * scale + shift


# --- recording versions (autograd) ------------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _channel_rule(name, dims, unbatched):
    @_grad_rule(name)
    def recorded(input, p: float = 0.5, training: bool = True, *, seed=None):
        y, scale = _channel_dropout(_array_of(input), p, training, seed, name, dims, unbatched)
        if scale is None:
            return _record(y, (input,), lambda g: (g,), name)  # identity
        return _record(y, (input,), lambda g: (np.multiply(g, scale, dtype=np.float32),), name)
    return recorded


_channel_rule("dropout2d", (3, 4), False)
_channel_rule("dropout3d", (4, 5), True)


@_grad_rule("alpha_dropout")
def _alpha_dropout_recorded(input, p: float = 0.5, training: bool = False, *, seed=None):
    p = _check_p(p, "alpha_dropout")
    x = as_float32(_array_of(input), "alpha_dropout: input")
    if not training or p == 0.0:
        return _record(x, (input,), lambda g: (g,), "alpha_dropout")
    if p == 1.0:
        return _record(np.zeros_like(x), (input,), lambda g: (np.zeros_like(g),), "alpha_dropout")
    scale, shift = _alpha_affine(x.shape, p, seed)
    return _record(x * scale + shift, (input,), lambda g: (g * scale,), "alpha_dropout")
