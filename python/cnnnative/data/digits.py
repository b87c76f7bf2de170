"""The UCI ML hand-written digits (Alpaydin & Kaynak), embedded: 1,797 8x8 images with
values 0..16, 10 classes. CC BY 4.0; see README.md beside this file."""
from __future__ import annotations

import os

import numpy as np

from .dataset import Dataset

__all__ = ["load_digits", "DIGITS_PATH"]

DIGITS_PATH = os.path.join(os.path.dirname(__file__), "digits.npz")


def load_digits(split: str = "train") -> Dataset:
    """split "train" (1,433 images), "test" (364) or "all" (1,797): images (N, 1, 8, 8)
    uint8 0..16, normalised to [0, 1] per batch. The fixed split is stratified: within
    each class, in file order, every fifth image (rank % 5 == 0) goes to the test set."""
    with np.load(DIGITS_PATH, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    # Rank of each image among the images of its class, in file order.
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], labels[order])
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels)) - starts
    if split == "train":
        keep = rank % 5 != 0
    elif split == "test":
        keep = rank % 5 == 0
    elif split == "all":
        keep = np.ones(len(labels), bool)
    else:
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return Dataset(images[keep][:, None], labels[keep], num_classes=10, max_value=16.0,
                   name=f"digits-{split}")
