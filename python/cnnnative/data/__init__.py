"""Datasets: the embedded UCI digits (default), MNIST / Fashion-MNIST IDX readers, CIFAR-10
binary readers, downloads, a shuffling batch iterator (Dataset.batches) and batch
augmentation (augment: RandomCrop, RandomHorizontalFlip, Normalize, Compose)."""
from __future__ import annotations

import numpy as np

from . import augment
from .augment import Compose, Normalize, RandomCrop, RandomHorizontalFlip, channel_stats
from .cifar import CIFAR10_CLASSES, load_cifar10, read_cifar_batch
from .dataset import Dataset
from .digits import DIGITS_PATH, load_digits
from .download import (CIFAR10_URL, FASHION_MNIST_URL, MNIST_URL, download, download_cifar10,
                       download_fashion_mnist, download_mnist)
from .idx import load_fashion_mnist, load_mnist, read_idx

__all__ = ["Dataset", "load_digits", "load_mnist", "load_fashion_mnist", "load_cifar10",
           "read_idx", "read_cifar_batch", "download", "download_mnist", "download_fashion_mnist",
           "download_cifar10", "load_dataset", "DATASETS", "CIFAR10_CLASSES", "DIGITS_PATH",
           "MNIST_URL", "FASHION_MNIST_URL", "CIFAR10_URL", "augment", "Compose", "RandomCrop",
           "RandomHorizontalFlip", "Normalize", "channel_stats", "split_validation"]

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def load_dataset(name: str, split: str = "train", root: str | None = None,
                 download_missing: bool = False) -> Dataset:
    """Load by name: "digits" (embedded) or "mnist" / "fashion-mnist" / "cifar10" from
    root (downloaded there first when download_missing=True)."""
    if name == "digits":
        return load_digits(split)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if root is None:
        raise ValueError(f"dataset {name!r} needs a data directory (root)")
    if download_missing:
        {"cifar10": download_cifar10, "mnist": download_mnist,
         "fashion-mnist": download_fashion_mnist}[name](root)
    loader = {"cifar10": load_cifar10, "mnist": load_mnist, "fashion-mnist": load_fashion_mnist}[name]
    try:
        return loader(root, split)
    except FileNotFoundError as e:
        if download_missing:
            raise
        raise FileNotFoundError(f"{e}; download_missing=True (`cnnnative train --download`) fetches "
                                f"the {name} files") from None


def split_validation(dataset: Dataset, fraction: float, seed: int = 0):
    """(train, val): a seeded random `fraction` of the dataset held out as validation (at
    least one image when fraction > 0), the rest for training; both keep their images in
    the original order. fraction 0 gives (dataset, None)."""
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split_validation: fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return dataset, None
    n = len(dataset)
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"split_validation: holding out {n_val} of {n} images leaves none to train on")
    held = np.zeros(n, bool)
    held[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return dataset.subset(np.flatnonzero(~held)), dataset.subset(np.flatnonzero(held))
