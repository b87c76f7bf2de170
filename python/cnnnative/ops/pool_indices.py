"""onnx_flat_indices: a max pool's arg-max indices as ONNX's MaxPool writes them.

The library's pools (as torch's) give each output the position of its maximum within its
own (sample, channel) plane of the unpadded input, row-major. ONNX flattens over the
whole (N, C, *spatial) tensor, row-major (storage_order 0) or with the first spatial axis
varying fastest inside a plane (storage_order 1). Indices carry no gradient.
"""
from __future__ import annotations

import numpy as np

from ._args import _items, index

__all__ = ["onnx_flat_indices"]


def _checked(indices, spatial, storage_order, pads, out):
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iuf":
        raise TypeError(f"onnx_flat_indices: indices must be a numeric array, got dtype {idx.dtype}")
    if idx.dtype.kind == "f" and not np.all(np.isfinite(idx)):
        raise ValueError("onnx_flat_indices: indices must be finite")
    spatial = _items(spatial, "spatial", "a sequence of ints")
    k = len(spatial)
    if idx.ndim != k + 2 or min(spatial, default=0) <= 0:
        raise ValueError(f"onnx_flat_indices: indices of shape {idx.shape} do not fit spatial sizes {spatial} "
                         "(positive sizes, one per dim after N and C)")
    if index(storage_order, "storage_order") not in (0, 1):
        raise ValueError(f"onnx_flat_indices: storage_order must be 0 or 1, got {storage_order!r}")
    pads = (0,) * (2 * k) if pads is None else _items(pads, "pads", "a sequence of ints")
    if len(pads) != 2 * k or min(pads, default=0) < 0:
        raise ValueError(f"onnx_flat_indices: pads {pads} must be {2 * k} non-negative ints for spatial {spatial}")
    if out is not None:
        out = _items(out, "out", "a sequence of ints")
        if len(out) != k or min(out, default=0) < 0:
            raise ValueError(f"onnx_flat_indices: out {out} must be {k} non-negative sizes")
    plane = 1
    for n, b, a in zip(spatial, pads[:k], pads[k:]):
        plane *= n + b + a
    if plane * max(idx.shape[0] * idx.shape[1], 1) >= 2 ** 63:
        raise OverflowError(f"onnx_flat_indices: spatial sizes {spatial} (pads {pads}) overflow int64 indices")
    return idx.astype(np.int64), spatial, pads, out


def onnx_flat_indices(indices, spatial, storage_order=0, pads=None, out=None) -> np.ndarray:
    """indices (N, C, *out) plane-local row-major positions into an input whose spatial
    sizes are `spatial` -> int64 ONNX MaxPool indices (flat over N, C and the plane).

    pads: (before..., after...) when the pool ran on the input padded by them (its indices
    point into the padded plane); out: the output sizes to keep (a ceil_mode pool on the
    padded input may give one more window at the end than ONNX)."""
    idx, spatial, pads, out = _checked(indices, spatial, storage_order, pads, out)
    k = len(spatial)
    if out is not None:
        idx = idx[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]
    plane = int(np.prod(spatial, dtype=np.int64))
    if any(pads) or storage_order == 1:
        padded = tuple(n + b + a for n, b, a in zip(spatial, pads[:k], pads[k:]))
        coords = np.unravel_index(np.clip(idx, 0, int(np.prod(padded, dtype=np.int64)) - 1), padded)
        # a maximum never lies in the padding (-inf) unless a whole window does: clip it in
        coords = tuple(np.clip(c - b, 0, n - 1) for c, b, n in zip(coords, pads[:k], spatial))
        idx = np.ravel_multi_index(coords, spatial, order="F" if storage_order == 1 else "C").astype(np.int64)
    n, c = idx.shape[:2]
    offsets = (np.arange(n * c, dtype=np.int64) * plane).reshape((n, c) + (1,) * k)
    return idx + offsets
