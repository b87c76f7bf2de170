"""Matrix multiply on the core's packed SGEMM (row-major, float32)."""
from __future__ import annotations

import numpy as np

from .. import _core
from ._args import as_float32

__all__ = ["gemm"]  # matmul (any ndim, on this gemm) is in matmul.py

_ACTIVATIONS = {None: (-np.inf, np.inf), "relu": (0.0, np.inf), "relu6": (0.0, 6.0)}


def _matrix(x, name: str) -> np.ndarray:
    x = as_float32(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {x.shape}")
    return x


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None,
         row_bias=None, col_bias=None, activation=None) -> np.ndarray:
    """C = act(alpha * op(a) @ op(b) + beta * out + row_bias[:, None] + col_bias[None, :]).

    a: (M, K), or (K, M) when trans_a; b: (K, N), or (N, K) when trans_b.
    Returns C of shape (M, N), float32. Inputs of other dtypes or layouts are converted
    to C-contiguous float32 first.

    out: when given, a C-contiguous writeable float32 ndarray of shape (M, N); it is
    overwritten with the result and returned. beta != 0 requires out (beta == 0 never
    reads it, so NaN there does not propagate).
    row_bias: (M,) added to each row; col_bias: (N,) added to each column.
    activation: None, "relu" or "relu6", applied last. Bias and activation are fused into
    the kernel (applied while C is in registers).
    """
    a = _matrix(a, "a")
    b = _matrix(b, "b")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    if row_bias is not None:
        row_bias = as_float32(row_bias, "row_bias")
    if col_bias is not None:
        col_bias = as_float32(col_bias, "col_bias")
    if out is not None and isinstance(out, np.ndarray):
        # The kernel reads a, b and the biases block by block while writing out: give it
        # copies of any that share memory with out.
        a = a.copy() if np.may_share_memory(out, a) else a
        b = b.copy() if np.may_share_memory(out, b) else b
        if row_bias is not None and np.may_share_memory(out, row_bias):
            row_bias = row_bias.copy()
        if col_bias is not None and np.may_share_memory(out, col_bias):
            col_bias = col_bias.copy()
    lo, hi = _ACTIVATIONS[activation]
    return _core.gemm(a, b, bool(trans_a), bool(trans_b), float(alpha), float(beta), out,
                      row_bias, col_bias, lo, hi)
