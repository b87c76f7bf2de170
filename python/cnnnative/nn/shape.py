"""Layers that only change the view: Flatten, Unflatten, Identity; and Dropout."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import index
from ._util import as_input
from .module import Module

__all__ = ["Flatten", "Unflatten", "Identity", "Dropout"]


class Flatten(Module):
    """torch.nn.Flatten(start_dim=1, end_dim=-1): merges dimensions start_dim..end_dim (of
    the batched input) into one, e.g. (N, C, H, W) -> (N, C*H*W). A view (no copy)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = index(start_dim, "start_dim"), index(end_dim, "end_dim")

    def output_shape(self, input_shape):
        full = (1,) + tuple(input_shape)  # dims count the batch
        s = self.start_dim % len(full) if -len(full) <= self.start_dim < len(full) else None
        e = self.end_dim % len(full) if -len(full) <= self.end_dim < len(full) else None
        if s is None or e is None or s == 0 or s > e:
            raise self._shape_error(input_shape, f"start_dim={self.start_dim}, end_dim={self.end_dim} must name "
                                                 f"dimensions after the batch, start_dim <= end_dim")
        merged = int(np.prod(full[s:e + 1], dtype=np.int64))
        return full[1:s] + (merged,) + full[e + 1:]

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim < 1:
            raise ValueError(f"{self!r}: input needs a batch dimension, got shape {tuple(x.shape)}")
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """torch.nn.Unflatten(dim, unflattened_size): splits dimension `dim` into
    unflattened_size (one entry may be -1), e.g. Unflatten(1, (C, H, W)) after a Linear.
    A view (no copy). A size whose product does not match the dimension is a ValueError."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        self.dim = index(dim, "dim")
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size:
            raise TypeError(f"Unflatten: unflattened_size must be a non-empty tuple of ints, got {unflattened_size!r}")
        self.unflattened_size = tuple(index(v, "unflattened_size") for v in unflattened_size)
        if sum(v == -1 for v in self.unflattened_size) > 1 or any(v < -1 for v in self.unflattened_size):
            raise ValueError(f"Unflatten: unflattened_size may hold one -1 and otherwise sizes >= 0, "
                             f"got {unflattened_size!r}")

    def _new_shape(self, shape, where):
        d = self.dim % len(shape) if -len(shape) <= self.dim < len(shape) else None
        if d is None:
            raise ValueError(f"{self!r}: dim {self.dim} is out of range for {where} of shape {tuple(shape)}")
        sizes = self.unflattened_size
        known = int(np.prod([v for v in sizes if v != -1], dtype=np.int64))
        if -1 in sizes:
            if known == 0 or shape[d] % known:
                raise ValueError(f"{self!r}: cannot split dimension {self.dim} of size {shape[d]} into {sizes}")
            sizes = tuple(shape[d] // known if v == -1 else v for v in sizes)
        elif known != shape[d]:
            raise ValueError(f"{self!r}: unflattened_size {sizes} has {known} elements but dimension {self.dim} "
                             f"of {where} of shape {tuple(shape)} has {shape[d]}")
        return tuple(shape[:d]) + sizes + tuple(shape[d + 1:]), d

    def output_shape(self, input_shape):
        full, d = self._new_shape((1,) + tuple(input_shape), "the batched input")
        if d == 0:
            raise self._shape_error(input_shape, "Unflatten(0, ...) splits the batch dimension")
        return full[1:]

    def forward(self, x):
        x = as_input(x, self)
        return ops.reshape(x, self._new_shape(x.shape, "the input")[0])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Identity(Module):
    """Returns its input (a placeholder, e.g. a removed classifier head)."""

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        return x


class Dropout(Module):
    """torch.nn.Dropout(p): in training, zero each element with probability p and scale
    the rest by 1/(1-p); identity in eval mode. Any shape.

    Random masks come from the core, seeded from this layer's own numpy generator
    (`seed`, or drawn from nn.init's generator), so a seeded model drops the same units.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, seed=None) -> None:
        super().__init__()
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = p
        if seed is None:
            from . import init
            seed = int(init.default_generator().integers(2 ** 62))
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(index(seed, "Dropout seed"))

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        x = as_input(x, self)
        if not self.training or self.p == 0.0:
            return x  # identity in eval mode (and for p = 0)
        seed = int(self._rng.integers(2 ** 62))
        return ops.dropout(x, self.p, True, seed=seed)

    def extra_repr(self):
        return f"p={self.p}"
