"""onnx_flat_indices: a max pool's arg-max indices as ONNX's MaxPool writes them.

The library's pools (as torch's) give each output the position of its maximum within its
own (sample, channel) plane of the unpadded input, row-major. ONNX flattens over the
whole (N, C, *spatial) tensor, row-major (storage_order 0) or with the first spatial axis
varying fastest inside a plane (storage_order 1). Indices carry no gradient.
"""
from __future__ import annotations

import numpy as np

__all__ = ["onnx_flat_indices"]


def onnx_flat_indices(indices, spatial, storage_order=0) -> np.ndarray:
    """indices (N, C, *out) plane-local row-major positions into an input whose spatial
    sizes are `spatial` -> int64 ONNX MaxPool indices (flat over N, C and the plane)."""
    idx = np.asarray(indices).astype(np.int64)
    spatial = tuple(int(s) for s in spatial)
    if idx.ndim != len(spatial) + 2:
        raise ValueError(f"onnx_flat_indices: indices of shape {idx.shape} do not fit spatial sizes {spatial}")
    if storage_order not in (0, 1):
        raise ValueError(f"onnx_flat_indices: storage_order must be 0 or 1, got {storage_order!r}")
    plane = int(np.prod(spatial, dtype=np.int64))
    if storage_order == 1:
        coords = np.unravel_index(np.clip(idx, 0, max(plane - 1, 0)), spatial)
        idx = np.ravel_multi_index(coords, spatial, order="F").astype(np.int64)
    n, c = idx.shape[:2]
    offsets = (np.arange(n * c, dtype=np.int64) * plane).reshape((n, c) + (1,) * len(spatial))
    return idx + offsets
