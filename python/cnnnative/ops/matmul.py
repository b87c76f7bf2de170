"""matmul: the `@` operator, with numpy's (and torch's) rules for 1-D, 2-D and batched
operands, and its gradient for each case.

Rules: a 1-D first operand is a row vector and a 1-D second operand a column vector, and
that added dimension is dropped from the result; dimensions before the last two are batch
dimensions and broadcast. The backward promotes the operands the same way, so one formula
(dA = dC @ B^T, dB = A^T @ dC, summed over broadcast batch dimensions) covers every case.
"""
from __future__ import annotations

import numpy as np

from ..autograd import array_of, record, unbroadcast, wants
from ._registry import grad_rule
from ._tensor_args import as_array, float32

__all__ = ["matmul"]


def _check(x, y):
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


def matmul(a, b) -> np.ndarray:
    """Matrix product a @ b (torch.matmul): (..., m, k) @ (..., k, n) -> (..., m, n) with
    broadcast batch dimensions; a 1-D a is (k,) -> a row, a 1-D b is (k,) -> a column, and
    the added dimension is dropped ((k,) @ (k,) is a 0-d array). float32."""
    x, y = float32(a, "matmul", "a"), float32(b, "matmul", "b")
    try:
        return as_array(np.matmul(x, y))
    except ValueError:
        _check(x, y)  # says what is wrong in torch's terms
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
            gx = unbroadcast(np.matmul(g2, _swap(y2)), x2.shape).reshape(x.shape)
        if wants(b):
            gy = unbroadcast(np.matmul(_swap(x2), g2), y2.shape).reshape(y.shape)
        return gx, gy
    return record(out, (a, b), backward, "matmul")
