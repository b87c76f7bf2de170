"""MNIST / Fashion-MNIST IDX files (raw or .gz)."""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from .dataset import Dataset

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "MNIST_FILES"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_bytes(path: str) -> bytes:
    """File contents, gunzipped when the name ends in .gz; a damaged file is a ValueError
    naming it."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read (corrupt or truncated compressed file?): {e}") from None


def read_idx(path: str) -> np.ndarray:
    """Parse one IDX file: magic 0x0000TTDD (type, number of dims), big-endian int32 dims,
    then the data. Truncated or malformed files raise ValueError naming the file."""
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex() or 'empty'})")
    dtype = _IDX_TYPES.get(raw[2])
    if dtype is None:
        raise ValueError(f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, {ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, 4))
    if any(d < 0 for d in dims):
        raise ValueError(f"{path}: negative dimension in {dims}")
    expected = np.dtype(dtype).itemsize
    for d in dims:  # Python integers: dims whose product passes 2^64 must not wrap to a match
        expected *= d
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX dims {dims} need {expected} data bytes, file has "
                         f"{len(raw) - header} (truncated or corrupt)")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(np.dtype(dtype).newbyteorder("="))


def _find(root, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}[.gz] not found in {root}")


def load_mnist(root: str, split: str = "train", name: str = "mnist") -> Dataset:
    """MNIST-format set from directory root (files as published, raw or .gz):
    images (N, 1, 28, 28) uint8, labels int64."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    img_path, lab_path = (_find(root, s) for s in MNIST_FILES[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{img_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{lab_path}: {labels.shape[0] if labels.ndim else 0} labels for "
                         f"{images.shape[0]} images in {img_path}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lab_path}: label {labels.max()} out of range 0..9")
    return Dataset(images[:, None], labels, num_classes=10, max_value=255.0, name=f"{name}-{split}")


def load_fashion_mnist(root: str, split: str = "train") -> Dataset:
    """Fashion-MNIST (same file names and format as MNIST)."""
    return load_mnist(root, split, name="fashion-mnist")
