"""Layers that only change the view: Flatten, Identity; and Dropout."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import index
from ._util import as_input
from .module import Module

__all__ = ["Flatten", "Identity", "Dropout"]


class Flatten(Module):
    """torch.nn.Flatten(start_dim=1): (N, C, H, W) -> (N, C*H*W). A reshape (no copy)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        if start_dim != 1 or end_dim != -1:
            raise ValueError("Flatten supports start_dim=1, end_dim=-1 only")
        self.start_dim, self.end_dim = 1, -1

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def forward(self, x):
        x = as_input(x, self)
        if x.ndim < 1:
            raise ValueError(f"{self!r}: input needs a batch dimension, got shape {tuple(x.shape)}")
        n = x.shape[0]
        rest = int(np.prod(x.shape[1:], dtype=np.int64))
        return ops.reshape(x, (n, rest))


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

    def __init__(self, p: float = 0.5, inplace: bool = False, *, seed=None):
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
