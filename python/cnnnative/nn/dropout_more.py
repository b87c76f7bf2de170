"""Dropout2d, Dropout3d (whole channels zeroed) and AlphaDropout (for SELU networks): training
only, the identity in eval mode. Seeded like nn.Dropout: each layer draws its masks' seeds
from its own numpy generator (`seed`, or one drawn from nn.init's generator)."""
from __future__ import annotations

from .. import ops
from ._util import as_input
from .shape import Dropout

__all__ = ["Dropout2d", "Dropout3d", "AlphaDropout"]


class _SeededDropout(Dropout):
    """Dropout's arguments, seeding and eval-mode identity; subclasses name the op."""

    _op = None  # the cnnnative.ops function's name

    def forward(self, x):
        x = as_input(x, self)
        if not self.training or self.p == 0.0:
            return x
        seed = int(self._rng.integers(2 ** 62))
        return getattr(ops, self._op)(x, self.p, True, seed=seed)


class Dropout2d(_SeededDropout):
    """torch.nn.Dropout2d(p): zero each channel of a (N, C, H, W) input with probability p
    and scale the kept ones by 1 / (1 - p). A 3-D input is (N, C, L), as PyTorch treats it."""

    _op = "dropout2d"


class Dropout3d(_SeededDropout):
    """torch.nn.Dropout3d(p): channel dropout on (N, C, D, H, W) or (C, D, H, W) inputs."""

    _op = "dropout3d"


class AlphaDropout(_SeededDropout):
    """torch.nn.AlphaDropout(p): dropped units take SELU's negative saturation value, then an
    affine map keeps the mean and variance (self-normalising networks). Any shape."""

    _op = "alpha_dropout"
