"""Class-model visualisation (Simonyan, Vedaldi & Zisserman 2014): the image I that
maximises S_c(I) - weight_decay * ||I||^2, by gradient ascent on the input: what the
network 'wants to see' for class c."""
from __future__ import annotations

import numpy as np

from .. import autograd, ops
from ..tensor import Tensor
from .attribution import eval_mode

__all__ = ["class_model"]


def class_model(model, target: int, input_shape, *, steps: int = 100, lr: float = 1.0,
                weight_decay: float = 1e-3, init=None, seed=0, history: bool = False):
    """Gradient ascent on one image of `input_shape` (C, H, W) for class `target`.

    Starts from `init` (an image) or small noise (seed), then `steps` times adds lr times
    the gradient of S_target(I) - weight_decay * ||I||^2 (S: the raw class score).
    Returns the image (C, H, W); with history=True also the list of scores, before the
    first step and after each step."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape: expected (C, H, W), got {input_shape!r}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if init is None:
        image = (0.01 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)
    else:
        image = np.array(init, dtype=np.float32, copy=True).reshape(shape)
    scores = []
    with eval_mode(model), autograd.enable_grad():
        for step in range(steps + 1):
            x = Tensor(image[None], requires_grad=True)
            out = model(x)
            if not isinstance(out, Tensor) or out.ndim != 2:
                raise ValueError("class_model: the model must return class scores (N, K)")
            if not 0 <= int(target) < out.shape[1]:
                raise ValueError(f"target must be a class index in [0, {out.shape[1]}), got {target!r}")
            score = out[:, int(target)]
            scores.append(float(np.asarray(score.numpy()).sum()))
            if step == steps:
                break
            objective = ops.sub(ops.sum(score), ops.mul(ops.sum(ops.mul(x, x)), float(weight_decay)))
            (g,) = autograd.grad(objective, [x])
            image = image + np.float32(lr) * np.asarray(g[0], dtype=np.float32)
    return (image, scores) if history else image
