"""Which pixels decide a class: gradient saliency (Simonyan et al. 2014), SmoothGrad
(Smilkov et al. 2017) and Grad-CAM (Selvaraju et al. 2017).

All take `model` (an nn.Module giving class scores (N, K)) and images x (N, C, H, W) and
explain the score of `target` (None: each image's top class; an int, or one per image).
The score is the model's raw output (the logit, before any softmax), as in the papers.
The model runs in eval mode (BatchNorm with its running statistics, no dropout); its
training flag is restored afterwards, and nothing is written into any parameter's `.grad`.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import autograd, ops
from ..tensor import Tensor
from .capture import capture

__all__ = ["input_gradient", "saliency", "smoothgrad", "grad_cam"]


@contextlib.contextmanager
def eval_mode(model):
    """model.eval() for the block, each module's training flag restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


def _images(x):
    x = np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"x: expected images (N, C, H, W), got shape {x.shape}")
    return np.ascontiguousarray(x)


def _targets(target, scores):
    """One class index per image: the top class, or `target` (an int or one per image)."""
    n, k = scores.shape
    if target is None:
        return np.argmax(scores, axis=1)
    t = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else np.asarray(target)
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"target: expected an int or {n} ints (one per image), got {target!r}")
    if np.any((t < 0) | (t >= k)):
        raise ValueError(f"target: class indices must be in [0, {k}), got {t.tolist()}")
    return t.astype(np.int64)


def _score(out, classes):
    """Sum over the batch of out[i, classes[i]], recorded (the gradient of a sum is each
    image's own gradient: the images do not interact in eval mode)."""
    if not isinstance(out, Tensor) or out.ndim != 2:
        shape = getattr(out, "shape", None)
        raise ValueError(f"model output: expected recorded class scores (N, K), got {type(out).__name__} "
                         f"of shape {shape}")
    mask = np.zeros(out.shape, np.float32)
    mask[np.arange(len(classes)), classes] = 1.0
    return ops.sum(ops.mul(out, mask))


def input_gradient(model, x, target=None):
    """d score[target] / d x: an array of x's shape (N, C, H, W)."""
    x = _images(x)
    with eval_mode(model), autograd.enable_grad():
        xt = Tensor(x, requires_grad=True)
        out = model(xt)
        classes = _targets(target, np.asarray(out.numpy() if isinstance(out, Tensor) else out))
        (g,) = autograd.grad(_score(out, classes), [xt])
    return np.asarray(g, dtype=np.float32)


def saliency(model, x, target=None):
    """Simonyan et al.'s saliency map: max over channels of |d score / d x|, (N, H, W)."""
    return np.abs(input_gradient(model, x, target)).max(axis=1)


def smoothgrad(model, x, target=None, *, samples: int = 25, noise: float = 0.15, seed=0):
    """SmoothGrad: the mean of `samples` saliency maps of x + Gaussian noise, (N, H, W).

    noise: the noise's standard deviation as a fraction of each image's value range
    (max - min), 0.1-0.2 in the paper. seed: an int or a numpy Generator (the noise is
    drawn from it, image batch by image batch). target None: each image's top class on
    the clean image, so every noisy copy explains the same class."""
    x = _images(x)
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be zero or positive, got {noise!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if target is None:
        with eval_mode(model), autograd.no_grad():
            target = np.argmax(np.asarray(model(x)), axis=1)
    sigma = (noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))).astype(np.float32)[:, None, None, None]
    total = np.zeros((x.shape[0],) + x.shape[2:], np.float32)
    for _ in range(samples):
        noisy = x + sigma * rng.standard_normal(x.shape).astype(np.float32)
        total += saliency(model, noisy, target)
    return total / np.float32(samples)


def grad_cam(model, x, layer: str, target=None, *, upsample: bool = True):
    """Grad-CAM heat maps in [0, 1]: (N, H, W) over the input (upsample=True, bilinear),
    else (N, h, w) at the layer's resolution.

    layer: the name (as in named_modules) of a layer with a (N, C, h, w) output, usually
    the last convolution (or its ReLU). Each channel's weight is the spatial mean of the
    score's gradient with respect to it; the map is ReLU(sum of weight * channel),
    divided by its maximum (all zeros when nothing speaks for the class)."""
    x = _images(x)
    with eval_mode(model), autograd.enable_grad(), capture(model, layer) as cap:
        xt = Tensor(x, requires_grad=True)  # records even when every parameter is frozen
        out = model(xt)
        a = cap.tensors.get(layer)
        if a is None:
            raise ValueError(f"grad_cam: layer {layer!r} was not called in the model's forward")
        if not isinstance(a, Tensor) or a.ndim != 4:
            raise ValueError(f"grad_cam: layer {layer!r} must output feature maps (N, C, h, w), got shape "
                             f"{tuple(np.shape(a))}")
        classes = _targets(target, np.asarray(out.numpy() if isinstance(out, Tensor) else out))
        (g,) = autograd.grad(_score(out, classes), [a], allow_unused=True)
    if g is None:
        raise ValueError(f"grad_cam: the class score does not depend on layer {layer!r}")
    weights = np.asarray(g).mean(axis=(2, 3))                      # (N, C): alpha_k^c
    cam = np.maximum(np.einsum("nc,nchw->nhw", weights, cap[layer]), 0).astype(np.float32)
    if upsample and cam.shape[1:] != x.shape[2:]:
        cam = ops.interpolate(np.ascontiguousarray(cam[:, None]), size=x.shape[2:], mode="bilinear",
                              align_corners=False)[:, 0]
    peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0).astype(np.float32)
