"""Gradient attacks on the input: FGSM (Goodfellow et al. 2015), iterative FGSM (Kurakin
et al. 2017) and PGD (Madry et al. 2018), in the L-inf and L2 norms, untargeted or
targeted, batched on numpy arrays.

Every attack takes the model's input gradient with the library's autograd: the batch
becomes a `Tensor(x, requires_grad=True)`, the loss of the model's output is recorded, and
`autograd.grad(loss, x)` returns d loss / d x without touching the parameters' `.grad`.
The model runs in eval mode while an attack crafts (BatchNorm uses its running
statistics and is not updated, Dropout is off, so the gradient is deterministic); its
previous mode is restored afterwards.

Units: eps, alpha and clip are in the model's input units (the digits and the other
datasets of cnnnative.data feed pixels scaled to [0, 1], hence clip=(0, 1) by default).
"""
from __future__ import annotations

import math

import numpy as np

from .. import autograd, ops
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["fgsm", "pgd", "iterative_fgsm", "input_gradient", "project", "predict_logits"]

_TINY = 1e-12  # keeps a zero gradient (or perturbation) from dividing by zero


# -- argument checks ------------------------------------------------------------------------

def norm_arg(norm, where: str):
    """"inf" (also np.inf, "linf") or 2 (also "2", "l2")."""
    text = str(norm).lower()
    if text in ("inf", "linf", "l-inf"):
        return "inf"
    if text in ("2", "2.0", "l2"):
        return 2
    raise ValueError(f"{where}: norm must be 'inf' or 2, got {norm!r}")


def _number(value, name: str, where: str, positive: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{where}: {name} must be {'positive' if positive else 'zero or positive'} and finite, "
                         f"got {value!r}")
    return v


def clip_arg(clip, where: str):
    """None (no range) or a (min, max) pair of floats with min < max."""
    if clip is None:
        return None
    try:
        lo, hi = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: clip must be None or a (min, max) pair of numbers, got {clip!r}") from None
    if not (lo < hi):
        raise ValueError(f"{where}: clip must be (min, max) with min < max, got {clip!r}")
    return lo, hi


def _inputs(x, clip, where: str) -> np.ndarray:
    """x as a float32 copy (N, ...), finite and inside the valid range: clipping a point that
    starts outside it could move it further than eps."""
    if isinstance(x, Tensor):
        x = x.numpy()
    x = np.array(x, dtype=np.float32, copy=True)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{where}: x must be a non-empty batch (N, ...), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: x contains NaN or infinite values")
    if clip is not None:
        lo, hi = float(x.min()), float(x.max())
        if lo < clip[0] - 1e-6 or hi > clip[1] + 1e-6:
            raise ValueError(f"{where}: x has values in [{lo:g}, {hi:g}], outside clip {clip}; scale the inputs "
                             "the way the model was trained, or pass the model's input range as clip "
                             "(None for no range)")
    return x


def _labels(y, n: int, where: str, name: str = "y") -> np.ndarray:
    """Class indices as int64 (n,); a single int is broadcast to the batch."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{where}: {name} must hold integer class indices, got dtype {y.dtype}")
    if y.ndim == 0:
        y = np.full(n, int(y), np.int64)
    if y.shape != (n,):
        raise ValueError(f"{where}: {name} must have shape ({n},) (one class per image) or be one int, "
                         f"got shape {y.shape}")
    return np.ascontiguousarray(y, np.int64)


# -- the model ------------------------------------------------------------------------------

def _device(model):
    return getattr(model, "device", "cpu")


def _upload(a, model):
    """Host array -> the model's device (the GPU backend), unchanged on the CPU."""
    if _device(model) == "cpu":
        return a
    from .. import cuda
    return cuda.from_numpy(np.ascontiguousarray(a), device=model.device_index)


def _host(a):
    a = a.data if isinstance(a, Tensor) else a
    return np.asarray(a.numpy() if type(a).__module__ == "cnnnative._cuda" else a)


def predict_logits(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (N, classes) for x, in eval mode, recording nothing."""
    was = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([_host(model(_upload(np.ascontiguousarray(x[i:i + batch_size], np.float32),
                                                       model)))
                                   for i in range(0, len(x), batch_size)])
    finally:
        model.train(was)


def input_gradient(model, x, y, loss=None) -> np.ndarray:
    """d loss(model(x), y) / d x, same shape as x (float32). loss: callable(output,
    target) -> scalar Tensor; default cross-entropy summed over the batch (so each image's
    gradient does not depend on the batch size). Runs the model in its current mode."""
    with enable_grad():
        xt = Tensor(_upload(np.ascontiguousarray(x, np.float32), model), requires_grad=True)
        out = model(xt)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise TypeError(f"input_gradient: {type(model).__name__} returned {type(out).__name__} that records no "
                            "gradient; attacks need an eager model built from cnnnative ops (not a compiled one)")
        target = _upload(y, model)
        value = ops.cross_entropy(out, target, reduction="sum") if loss is None else loss(out, target)
        (g,) = autograd.grad(value, xt)
    return _host(g).astype(np.float32, copy=False)


# -- geometry -------------------------------------------------------------------------------

def _per_sample_norm(a: np.ndarray) -> np.ndarray:
    """L2 norm of each sample, shaped (N, 1, 1, ...) to broadcast against a."""
    n = np.sqrt(np.sum(np.square(a, dtype=np.float64).reshape(len(a), -1), axis=1))
    return n.reshape((len(a),) + (1,) * (a.ndim - 1))


def _steepest(g: np.ndarray, norm) -> np.ndarray:
    """The unit-norm direction of steepest ascent: sign(g) (L-inf), g / ||g||_2 (L2)."""
    if norm == "inf":
        return np.sign(g).astype(np.float32)
    return (g / np.maximum(_per_sample_norm(g), _TINY)).astype(np.float32)


def project(delta, eps: float, norm="inf") -> np.ndarray:
    """The closest point to each perturbation delta (N, ...) inside the norm ball of radius
    eps: clip to [-eps, eps] (L-inf), or scale by min(1, eps / ||delta||_2) per sample
    (L2). float32, delta's shape."""
    norm = norm_arg(norm, "project")
    eps = _number(eps, "eps", "project")
    delta = np.asarray(delta, np.float32)
    if norm == "inf":
        return np.clip(delta, -eps, eps)
    scale = np.minimum(1.0, eps / np.maximum(_per_sample_norm(delta), _TINY))
    return (delta * scale).astype(np.float32)


def _random_start(shape, eps: float, norm, rng) -> np.ndarray:
    """A point drawn uniformly from the norm ball: uniform in [-eps, eps] per element
    (L-inf); a Gaussian direction at radius eps * u^(1/d) (L2)."""
    if norm == "inf":
        return rng.uniform(-eps, eps, size=shape).astype(np.float32)
    d = int(np.prod(shape[1:]))
    direction = rng.standard_normal(shape)
    direction /= np.maximum(_per_sample_norm(direction), _TINY)
    radius = eps * rng.uniform(0.0, 1.0, size=(shape[0],) + (1,) * (len(shape) - 1)) ** (1.0 / d)
    return (direction * radius).astype(np.float32)


# -- the attacks ----------------------------------------------------------------------------

def pgd(model, x, y=None, eps: float = 0.03, *, alpha=None, steps: int = 10, norm="inf", targeted: bool = False,
        random_start: bool = True, clip=(0.0, 1.0), loss=None, seed=None) -> np.ndarray:
    """Projected gradient descent (Madry et al. 2018): `steps` steps of size alpha along
    the steepest direction of the loss (sign of the gradient for L-inf, the normalised
    gradient for L2), each followed by projection onto the eps ball around x and onto the
    valid range clip.

    x: inputs (N, ...) in the model's input units, inside clip. y: class indices (N,)
    (or one int): untargeted (default), the true labels, whose loss is raised (None: the
    model's own predictions, which avoids label leaking); targeted=True, the target
    classes, whose loss is lowered (required). eps: radius (L-inf: per pixel; L2: per
    image). alpha: step size, default 2.5 * eps / steps (Madry et al.'s choice: enough to
    cross the ball from anywhere). random_start: begin at a uniform point of the ball.
    clip: (min, max) of valid inputs, None for no limit. loss: callable(output, target)
    -> scalar Tensor, default cross-entropy. seed: int or np.random.Generator for the
    random start. Returns the adversarial inputs, float32, x's shape.
    """
    where = "pgd"
    norm = norm_arg(norm, where)
    eps = _number(eps, "eps", where)
    steps = int(steps) if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) else None
    if steps is None or steps < 1:
        raise ValueError(f"{where}: steps must be a positive int")
    alpha = 2.5 * eps / steps if alpha is None else _number(alpha, "alpha", where, positive=True)
    clip = clip_arg(clip, where)
    x0 = _inputs(x, clip, where)
    if targeted and y is None:
        raise ValueError(f"{where}: a targeted attack needs y, the target classes")
    was = model.training
    model.eval()
    try:
        y = _labels(predict_logits(model, x0).argmax(axis=1) if y is None else y, len(x0), where,
                    "target" if targeted else "y")
        if eps == 0:
            return x0
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        delta = _random_start(x0.shape, eps, norm, rng) if random_start else np.zeros_like(x0)
        xa = _in_range(x0 + delta, clip)
        for _ in range(steps):
            g = input_gradient(model, xa, y, loss)
            step = _steepest(-g if targeted else g, norm)  # targeted: descend the target's loss
            xa = _in_range(x0 + project(xa - x0 + np.float32(alpha) * step, eps, norm), clip)
        return xa
    finally:
        model.train(was)


def _in_range(x, clip):
    return x if clip is None else np.clip(x, clip[0], clip[1]).astype(np.float32, copy=False)


def fgsm(model, x, y=None, eps: float = 0.03, *, norm="inf", targeted: bool = False, clip=(0.0, 1.0),
         loss=None) -> np.ndarray:
    """The fast gradient sign method (Goodfellow et al. 2015): one step of size eps,
    x + eps * sign(d loss / d x) (norm "inf"), or x + eps * g / ||g||_2 (norm 2, the fast
    gradient method), clipped to the valid range. Arguments as pgd(); targeted=True steps
    down the loss of the target classes y. Returns float32, x's shape."""
    eps = _number(eps, "eps", "fgsm")
    return pgd(model, x, y, eps, alpha=eps if eps > 0 else None, steps=1, norm=norm, targeted=targeted,
               random_start=False, clip=clip, loss=loss)


def iterative_fgsm(model, x, y=None, eps: float = 0.03, *, alpha=None, steps: int = 10, norm="inf",
                   targeted: bool = False, clip=(0.0, 1.0), loss=None) -> np.ndarray:
    """Iterative FGSM, the basic iterative method (Kurakin et al. 2017): PGD started at x
    itself (no random start); alpha defaults to 2.5 * eps / steps, as in pgd()."""
    return pgd(model, x, y, eps, alpha=alpha, steps=steps, norm=norm, targeted=targeted, random_start=False,
               clip=clip, loss=loss)
