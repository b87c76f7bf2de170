"""Weight initialisation as torch.nn.init does it (same formulas, numpy random numbers).

Layers draw from one module-level generator; `manual_seed(s)` makes model construction
reproducible (it is Python state only: kernels never touch it).
"""
from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from ..ops._args import index

__all__ = ["manual_seed", "default_generator", "skip_random_init", "calculate_gain", "fan_in_and_fan_out",
           "uniform_", "normal_", "zeros_", "ones_", "constant_",
           "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"]

_generator = np.random.default_rng(0)
_skipping = threading.local()  # .depth > 0 inside skip_random_init() on this thread


def manual_seed(seed: int) -> None:
    """Reseed the generator every layer initialiser uses."""
    global _generator
    _generator = np.random.default_rng(index(seed, "seed"))


def default_generator() -> np.random.Generator:
    return _generator


def _gen(rng):
    return _generator if rng is None else rng


def calculate_gain(nonlinearity: str, param=None) -> float:
    """torch.nn.init.calculate_gain."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    """fan_in = in_features * receptive field; fan_out = out_features * receptive field."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fan in/out need at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _fill(array, values):
    array[...] = values.astype(np.float32)
    return array


@contextlib.contextmanager
def skip_random_init():
    """Inside (on this thread), the random initialisers -- uniform_, normal_ and the kaiming
    and xavier ones built on them -- fill zeros instead and leave the generator untouched.
    For code that overwrites every weight right after building the layers (the ONNX
    importer): no time drawing hundreds of millions of numbers for VGG's classifier, and
    the generator's state, so manual_seed reproducibility, is as before."""
    _skipping.depth = getattr(_skipping, "depth", 0) + 1
    try:
        yield
    finally:
        _skipping.depth -= 1


def _random_skipped(array) -> bool:
    if getattr(_skipping, "depth", 0) > 0:
        array[...] = 0
        return True
    return False


def uniform_(array, a=0.0, b=1.0, rng=None):
    if _random_skipped(array):
        return array
    return _fill(array, _gen(rng).uniform(a, b, size=array.shape))


def normal_(array, mean=0.0, std=1.0, rng=None):
    if _random_skipped(array):
        return array
    return _fill(array, _gen(rng).normal(mean, std, size=array.shape))


def zeros_(array):
    array[...] = 0
    return array


def ones_(array):
    array[...] = 1
    return array


def constant_(array, value):
    array[...] = value
    return array


def kaiming_uniform_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al. 2015)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(array.shape, mode))
    return uniform_(array, -bound, bound, rng)


def kaiming_normal_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """N(0, std^2), std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(array.shape, mode))
    return normal_(array, 0.0, std, rng)


def xavier_uniform_(array, gain=1.0, rng=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(array.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng)


def xavier_normal_(array, gain=1.0, rng=None):
    fan_in, fan_out = fan_in_and_fan_out(array.shape)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)
