"""Dataset: images + integer labels, with a shuffling batch iterator and uint8 -> float
normalisation done per batch (the whole set stays uint8 in memory), then an optional
transform per batch (data augmentation: cnnnative.data.augment)."""
from __future__ import annotations

import numpy as np

__all__ = ["Dataset"]


class Dataset:
    """images (N, C, H, W) uint8 (scaled by 1/max_value when batched) or float32 (as is);
    labels (N,) integers in [0, num_classes). transform: None or a callable
    `transform(x, generator=None)` applied to every float batch (see data.augment)."""

    def __init__(self, images, labels, num_classes=None, max_value=255.0, name="dataset", transform=None) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4:
            raise ValueError(f"{name}: images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{name}: labels must be (N,) with N={images.shape[0]}, got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name}: labels must be integers, got {labels.dtype}")
        self.images = images if images.dtype == np.uint8 else np.ascontiguousarray(images, np.float32)
        self.labels = labels.astype(np.int64)
        if num_classes is None:
            num_classes = int(self.labels.max()) + 1 if self.labels.size else 0
        self.num_classes = int(num_classes)
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"{name}: labels must lie in [0, {self.num_classes}), got "
                             f"[{self.labels.min()}, {self.labels.max()}]")
        self.max_value = float(max_value)
        self.name = name
        if transform is not None and not callable(transform):
            raise TypeError(f"{name}: transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.images.shape[1:])

    def normalize(self, images) -> np.ndarray:
        """uint8 -> float32 in [0, 1] (divided by max_value); float32 passes through."""
        if images.dtype == np.uint8:
            return images.astype(np.float32) * np.float32(1.0 / self.max_value)
        return np.ascontiguousarray(images, np.float32)

    def arrays(self):
        """(x float32 (N, C, H, W), y int64 (N,)) for the whole set."""
        return self.normalize(self.images), self.labels

    def subset(self, indices) -> "Dataset":
        idx = np.asarray(indices)
        return Dataset(self.images[idx], self.labels[idx], self.num_classes, self.max_value, self.name,
                       self.transform)

    def with_transform(self, transform) -> "Dataset":
        """The same images and labels (not copied) whose batches go through `transform`."""
        d = Dataset.__new__(Dataset)
        d.__dict__.update(self.__dict__)
        if transform is not None and not callable(transform):
            raise TypeError(f"{self.name}: transform must be callable, got {type(transform).__name__}")
        d.transform = transform
        return d

    def batches(self, batch_size: int, shuffle: bool = False, seed=None, drop_last: bool = False,
                transform=None):
        """Yield (x float32 (B, C, H, W), y int64 (B,)). shuffle uses
        np.random.default_rng(seed) (a Generator may be passed as seed); the transform
        (this call's, else the dataset's) draws from the same generator, after the shuffle."""
        batch_size = int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = len(self)
        order = np.arange(n)
        transform = self.transform if transform is None else transform
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if shuffle:
            order = rng.permutation(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            if shuffle:
                idx = np.sort(idx)  # gather in memory order; the batch's content is what is random
            x = self.normalize(self.images[idx])
            if transform is not None:
                x = np.ascontiguousarray(transform(x, generator=rng), np.float32)
            yield x, self.labels[idx]

    def __repr__(self):
        return f"Dataset({self.name!r}, n={len(self)}, sample_shape={self.sample_shape}, classes={self.num_classes})"
