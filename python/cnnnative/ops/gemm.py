"""Matrix multiply on the core's SGEMM."""
from __future__ import annotations

import numpy as np

from .. import _core

__all__ = ["gemm", "matmul"]


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None) -> np.ndarray:
    """C = alpha * op(a) @ op(b) + beta * out.

    a: (M, K) or (K, M) if trans_a; b: (K, N) or (N, K) if trans_b; result (M, N) float32.
    `out`, when given, must be a C-contiguous writeable float32 (M, N) array; it is
    overwritten and returned. beta != 0 requires `out`.
    """
    return _core.gemm(a, b, bool(trans_a), bool(trans_b), float(alpha), float(beta), out)


def matmul(a, b) -> np.ndarray:
    """a @ b for 2-D arrays (M, K) x (K, N) -> (M, N) float32."""
    return _core.gemm(a, b, False, False, 1.0, 0.0, None)
