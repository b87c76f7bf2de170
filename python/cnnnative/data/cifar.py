"""CIFAR-10 binary batches: records of 1 label byte + 3x32x32 image bytes."""
from __future__ import annotations

import os

import numpy as np

from .dataset import Dataset

__all__ = ["read_cifar_batch", "load_cifar10", "CIFAR10_CLASSES"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
_RECORD = 1 + 3 * 32 * 32


def read_cifar_batch(path: str):
    """-> (images (N, 3, 32, 32) uint8, labels (N,) int64). A size that is not a whole
    number of records, or a label > 9, is a ValueError naming the file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) == 0 or len(raw) % _RECORD:
        raise ValueError(f"{path}: {len(raw)} bytes is not a whole number of {_RECORD}-byte CIFAR-10 "
                         "records (truncated or corrupt)")
    rec = np.frombuffer(raw, np.uint8).reshape(-1, _RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"{path}: label {labels.max()} out of range 0..9 (corrupt file?)")
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def load_cifar10(root: str, split: str = "train") -> Dataset:
    """CIFAR-10 from root or root/cifar-10-batches-bin: data_batch_1..5.bin (train),
    test_batch.bin (test)."""
    d = root
    if not os.path.exists(os.path.join(d, "test_batch.bin")):
        d = os.path.join(root, "cifar-10-batches-bin")
    if split == "train":
        names = [f"data_batch_{i}.bin" for i in range(1, 6)]
    elif split == "test":
        names = ["test_batch.bin"]
    else:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    parts = []
    for n in names:
        p = os.path.join(d, n)
        if not os.path.exists(p):
            raise FileNotFoundError(f"CIFAR-10 file {n} not found in {root} (or its cifar-10-batches-bin)")
        parts.append(read_cifar_batch(p))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return Dataset(images, labels, num_classes=10, max_value=255.0, name=f"cifar10-{split}")
