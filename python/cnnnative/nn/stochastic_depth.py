"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth") with
torchvision.ops' name and semantics: in training, a residual branch's output is zeroed
with probability p per sample ('row') or for the whole batch ('batch') and the kept ones
are scaled by 1 / (1 - p); the identity in eval mode, so compile never sees it."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._args import index
from ._util import as_input
from .module import Module

__all__ = ["StochasticDepth", "stochastic_depth"]

_MODES = ("batch", "row")


def _check(p, mode) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"stochastic_depth: p (the drop probability) must be in [0, 1], got {p}")
    if mode not in _MODES:
        raise ValueError(f"stochastic_depth: mode must be 'batch' or 'row', got {mode!r}")
    return p


def _noise(shape, p: float, mode: str, rng: np.random.Generator) -> np.ndarray:
    """The multiplier: (N, 1, ..., 1) for 'row', (1, ..., 1) for 'batch'; 1 / (1 - p) where
    kept, 0 where dropped (all zeros for p == 1)."""
    size = (int(shape[0]),) + (1,) * (len(shape) - 1) if mode == "row" else (1,) * len(shape)
    keep = (rng.random(size) >= p).astype(np.float32)
    survival = 1.0 - p
    if survival > 0.0:
        keep /= np.float32(survival)
    return keep


def stochastic_depth(input, p: float, mode: str, training: bool = True, *, seed=None):
    """torchvision.ops.stochastic_depth: input (N, ...) times a per-sample ('row') or
    per-batch ('batch') Bernoulli(1 - p) mask scaled by 1 / (1 - p); the input itself when
    training is False or p == 0. seed: an int repeats the mask; None draws a fresh one."""
    p = _check(p, mode)
    if not training or p == 0.0:
        return input
    if len(input.shape) < 1:
        raise ValueError(f"stochastic_depth: input needs a batch dimension, got shape {tuple(input.shape)}")
    rng = np.random.default_rng(None if seed is None else index(seed, "seed"))
    return ops.mul(input, _noise(input.shape, p, mode, rng))


class StochasticDepth(Module):
    """torchvision.ops.StochasticDepth(p, mode): see stochastic_depth. Any shape (N, ...).

    The masks come from this layer's own numpy generator (`seed`, or one drawn from
    nn.init's generator), as nn.Dropout's do, so a seeded model drops the same samples."""

    def __init__(self, p: float, mode: str, *, seed=None) -> None:
        super().__init__()
        self.p = _check(p, mode)
        self.mode = mode
        if seed is None:
            from . import init
            seed = int(init.default_generator().integers(2 ** 62))
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(index(seed, "StochasticDepth seed"))

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, input):
        x = as_input(input, self)
        p = _check(self.p, self.mode)  # p may have been set after construction (as torch allows)
        if not self.training or p == 0.0:
            return x
        return ops.mul(x, _noise(x.shape, p, self.mode, self._rng))

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
