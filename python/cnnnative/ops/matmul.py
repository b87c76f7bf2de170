"""matmul: the `@` operator, with numpy's (and torch's) rules for 1-D, 2-D and batched
operands, and its gradient for each case.

Rules: a 1-D first operand is a row vector and a 1-D second operand a column vector, and
that added dimension is dropped from the result; dimensions before the last two are batch
dimensions and broadcast. When the second operand is not batched (1-D or 2-D, as in every
linear map), all rows of the first are one matrix: one call of the core's SGEMM (gemm.py).
Batched second operands go through numpy's matmul.

The backward promotes the operands the way the forward did, so one formula covers every
case: dA = dC @ B^T and dB = A^T @ dC, summed over broadcast batch dimensions.
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record, unbroadcast, wants
from ._registry import grad_rule
from ._tensor_args import as_array, float32
from .gemm import gemm

__all__ = ["matmul"]


def _check(x, y):
    """Raise the ValueError that says why x @ y is not defined (nothing if it is)."""
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{x.shape} and {y.shape} (use mul for a scalar)")
    k_a = x.shape[-1]
    k_b = y.shape[-2] if y.ndim >= 2 else y.shape[0]
    if k_a != k_b:
        raise ValueError(f"matmul: a has shape {x.shape} and b has shape {y.shape}: a's last "
                         f"dimension ({k_a}) must equal b's {'second to last' if y.ndim >= 2 else 'only'} "
                         f"dimension ({k_b})")
    try:
        np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: the batch dimensions of a {x.shape[:-2]} and b {y.shape[:-2]} "
                         f"do not broadcast (shapes {x.shape} and {y.shape})") from None


def _rows_times_matrix(x, y):
    """x (..., k) @ y (k, n) or (k,): every row of x against one matrix, in one SGEMM."""
    k = x.shape[-1]
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    cols = y.shape[1] if y.ndim == 2 else 1
    c = gemm(x.reshape(rows, k), y.reshape(k, cols))
    return c.reshape(x.shape[:-1] + y.shape[1:])


def matmul(a, b) -> np.ndarray:
    """Matrix product a @ b (torch.matmul): (..., m, k) @ (..., k, n) -> (..., m, n) with
    broadcast batch dimensions; a 1-D a is (k,) -> a row, a 1-D b is (k,) -> a column, and
    the added dimension is dropped ((k,) @ (k,) is a 0-d array). float32; inputs of other
    dtypes are converted first."""
    x, y = float32(a, "matmul", "a"), float32(b, "matmul", "b")
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != (y.shape[-2] if y.ndim >= 2 else y.shape[0]):
        _check(x, y)
    if y.ndim <= 2:
        return _rows_times_matrix(x, y)
    try:
        return as_array(np.matmul(x, y))
    except ValueError:
        _check(x, y)  # batch dimensions that do not broadcast
        raise


_matmul = matmul  # the plain function, for the rule (the dispatcher rebinds `matmul`)


def _swap(m):
    return np.swapaxes(m, -1, -2)


@grad_rule("matmul")
def _matmul_recorded(a, b):
    x, y = float32(array_of(a), "matmul", "a"), float32(array_of(b), "matmul", "b")
    out = _matmul(x, y)

    def backward(g):
        # Promote as the forward did: a (k,) -> (1, k), b (k,) -> (k, 1), and give g back
        # the dimensions the forward dropped.
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = g[..., None] if y.ndim == 1 else g
        g2 = g2[..., None, :] if x.ndim == 1 else g2
        gx = gy = None
        if wants(a):
            gx = unbroadcast(_matmul(g2, _swap(y2)), x2.shape).reshape(x.shape)
        if wants(b):
            if y2.ndim == 2:  # sum over every row of x of x_row^T g_row: one SGEMM
                k, n = y2.shape
                rows = int(np.prod(x2.shape[:-1], dtype=np.int64))
                gy = gemm(x2.reshape(rows, k), g2.reshape(rows, n), trans_a=True).reshape(y.shape)
            else:
                gy = unbroadcast(np.matmul(_swap(x2), g2), y2.shape).reshape(y.shape)
        return gx, gy
    return record(out, (a, b), backward, "matmul")
