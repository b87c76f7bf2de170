"""Data augmentation on whole batches (N, C, H, W), with torchvision's transform names:
RandomCrop(size, padding), RandomHorizontalFlip(p), Normalize(mean, std), Compose.

Each transform is a callable `t(x, generator=None) -> batch`: the random ones draw one
decision per image (a crop offset, a flip) from `generator` when it is given (the Trainer
passes its per-epoch generator, so a seeded run is reproducible) and else from their own
generator (seed= at construction). The work is numpy over the whole batch -- a padded
copy, a strided window view and one gather -- never a Python loop over images or pixels.
`channel_stats` computes the per-channel mean and std that Normalize takes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "Normalize", "channel_stats"]


def _batch(x, who):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a batch (N, C, H, W), got shape {x.shape}")
    return x


def _pair(v, what, who):
    items = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(items) != 2 or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        raise TypeError(f"{who}: {what} must be an int or a pair of ints, got {v!r}")
    return int(items[0]), int(items[1])


class _Random:
    """A transform with its own generator (seed=None: fresh entropy; an int or a Generator)."""

    def __init__(self, seed=None) -> None:
        self.generator = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def _rng(self, generator):
        return self.generator if generator is None else generator


class Compose:
    """Apply transforms in order: Compose([RandomCrop(32, 4), RandomHorizontalFlip(),
    Normalize(mean, std)]). Calls pass `generator` on to every transform."""

    def __init__(self, transforms) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, x, generator=None):
        for t in self.transforms:
            x = t(x, generator=generator)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class RandomCrop(_Random):
    """A random size (h, w) window of each image, after padding every side by `padding`
    (int: all four sides; (left/right, top/bottom); or (left, top, right, bottom), as
    torchvision). Offsets are uniform over every window that fits, independently per
    image. padding_mode: "constant" (with fill), "edge", "reflect" or "symmetric".
    (N, C, H, W) -> (N, C, h, w), same dtype."""

    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size, padding=None, fill=0, padding_mode="constant", *, seed=None) -> None:
        super().__init__(seed)
        self.size = _pair(size, "size", "RandomCrop")
        if min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be positive, got {size!r}")
        p = 0 if padding is None else padding
        p = tuple(p) if isinstance(p, (tuple, list)) else (p,)
        if len(p) not in (1, 2, 4) or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in p):
            raise ValueError(f"RandomCrop: padding must be a non-negative int or a 2- or 4-tuple of them, "
                             f"got {padding!r}")
        self.padding = padding
        left, top, right, bottom = (p * 4)[:4] if len(p) == 1 else (p * 2 if len(p) == 2 else p)
        self._pad = ((0, 0), (0, 0), (int(top), int(bottom)), (int(left), int(right)))
        if padding_mode not in self._MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {self._MODES}, got {padding_mode!r}")
        self.fill, self.padding_mode = fill, padding_mode

    def offsets(self, shape, generator=None):
        """(top (N,), left (N,)) int64 window corners in the padded images of a batch of
        `shape`, drawn from the generator: what one call crops."""
        n, _, h, w = shape
        (t, b), (l, r) = self._pad[2], self._pad[3]
        span_h, span_w = h + t + b - self.size[0], w + l + r - self.size[1]
        if span_h < 0 or span_w < 0:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"({h + t + b}, {w + l + r})")
        rng = self._rng(generator)
        return rng.integers(0, span_h + 1, n), rng.integers(0, span_w + 1, n)

    def __call__(self, x, generator=None):
        x = _batch(x, "RandomCrop")
        top, left = self.offsets(x.shape, generator)
        if self.padding_mode == "constant":
            padded = np.pad(x, self._pad, mode="constant", constant_values=self.fill)
        else:
            padded = np.pad(x, self._pad, mode=self.padding_mode)
        # windows[n, c, i, j] is the (h, w) window with corner (i, j): a view, no copy; the
        # advanced indices pick one window per image in a single gather -> (N, C, h, w).
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.size, axis=(2, 3))
        return np.ascontiguousarray(windows[np.arange(x.shape[0]), :, top, left])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding!r}, padding_mode={self.padding_mode!r})"


class RandomHorizontalFlip(_Random):
    """Each image mirrored left-right with probability p (independently per image).
    (N, C, H, W) -> same shape and dtype."""

    def __init__(self, p=0.5, *, seed=None) -> None:
        super().__init__(seed)
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def flips(self, n, generator=None):
        """(N,) bool: which images of a batch of n one call flips."""
        return self._rng(generator).random(n) < self.p

    def __call__(self, x, generator=None):
        x = _batch(x, "RandomHorizontalFlip")
        flip = self.flips(x.shape[0], generator)
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """(x - mean[c]) / std[c] per channel, in float32, as torchvision's Normalize on a
    float tensor. mean, std: one value per channel (or one for all). (N, C, H, W) float ->
    float32 of the same shape. Deterministic (generator is ignored)."""

    def __init__(self, mean, std) -> None:
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        if self.mean.size == 0 or self.std.size == 0:
            raise ValueError("Normalize: mean and std need at least one value")
        if np.any(self.std <= 0) or not np.all(np.isfinite(self.std)) or not np.all(np.isfinite(self.mean)):
            raise ValueError(f"Normalize: std must be positive and finite and mean finite, got mean "
                             f"{self.mean.tolist()}, std {self.std.tolist()}")

    def __call__(self, x, generator=None):
        x = _batch(x, "Normalize")
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"Normalize: {v.size} {name} values for {c} channels")
        return (np.asarray(x, np.float32) - self.mean[:, None, None]) / self.std[:, None, None]

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def channel_stats(images, max_value=255.0, chunk=4096):
    """Per-channel (mean, std) (each (C,) float32) of images (N, C, H, W) divided by
    max_value, accumulated in float64 over chunks of images (no float copy of the whole set).
    std is the population standard deviation over every pixel of the channel."""
    images = _batch(images, "channel_stats")
    if images.shape[0] == 0:
        raise ValueError("channel_stats: no images")
    c = images.shape[1]
    s, s2 = np.zeros(c), np.zeros(c)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].astype(np.float64) / float(max_value)
        s += part.sum(axis=(0, 2, 3))
        s2 += np.square(part).sum(axis=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s / count
    std = np.sqrt(np.maximum(s2 / count - mean ** 2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)
