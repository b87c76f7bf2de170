"""Normalization: batch, layer, group, instance and local response norm, forward and
backward, with torch.nn.functional semantics.

Tensors are numpy arrays, NCHW float32 ((N, C), (N, C, L), (N, C, H, W) or more spatial
dims); inputs of another dtype or layout are converted to C-contiguous float32 first.
The exception: `running_mean` / `running_var` are updated IN PLACE, so they must already
be C-contiguous, writeable float32 arrays of shape (C,) (else ValueError).

Statistics are two-pass (mean, then squared deviations about it) over cache-sized blocks, with float
lanes over short blocks and double across blocks, so long reductions (N*H*W values per
channel) and data on a large offset (1e4 + noise) keep an accurate variance.
"""
from __future__ import annotations


import numpy as np

from .. import _core
from ._args import as_float32, finite, index

__all__ = [
    "batch_norm",
    "batch_norm_forward",
    "batch_norm_backward",
    "layer_norm",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm",
    "group_norm_forward",
    "group_norm_backward",
    "instance_norm",
    "instance_norm_forward",
    "instance_norm_backward",
    "local_response_norm",
    "local_response_norm_backward",
]


_int = index  # ints only: floats, bools and strings are a TypeError naming the argument


def _float(value, name: str) -> float:
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None


def _momentum(value) -> float:
    """Running-statistics momentum: a NaN or out-of-range value would silently poison
    running_mean/running_var on every call."""
    return finite(_float(value, "momentum"), "momentum", 0.0, maximum=1.0)


def _opt(array, name: str):
    return None if array is None else as_float32(array, name)


def _check_running(stat, channels: int, name: str) -> None:
    """running_* are updated in place: they must be writeable contiguous float32 (C,)."""
    if stat is None:
        return
    if not isinstance(stat, np.ndarray) or stat.dtype != np.float32:
        raise ValueError(f"{name} must be a float32 numpy array of shape ({channels},) "
                         f"(it is updated in place), got {type(stat).__name__}"
                         f"{'' if not isinstance(stat, np.ndarray) else ' of dtype ' + str(stat.dtype)}")
    if stat.shape != (channels,):
        raise ValueError(f"{name} must have shape ({channels},) (one value per channel), "
                         f"got shape {stat.shape}")
    if not (stat.flags.c_contiguous and stat.flags.writeable):
        raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")


def _read_only_stat(stat):
    """A statistic that is only read: converted like any input (the kernel's binding wants
    a writeable, aligned float32 array, so a read-only or unaligned one is copied)."""
    if stat is None:
        return None
    return np.require(as_float32(stat, "running statistics"), requirements=["C", "W", "A"])


# ---- batch norm ---------------------------------------------------------------------

def batch_norm_forward(input, running_mean, running_var, weight=None, bias=None, training=False,
                       momentum=0.1, eps=1e-5):
    """Batch norm returning what the backward needs (torch.native_batch_norm).

    input (N, C, *); running_mean, running_var (C,) float32 or None (training only);
    weight, bias (C,) or None.
    training: normalize with the batch mean and biased variance over N and the spatial
    dims; running_* (if given) become (1 - momentum) * running + momentum * batch value,
    with the UNBIASED batch variance, in place. N * spatial == 1 is a ValueError.
    eval: normalize with running_mean / running_var (required; any array-like, not modified).
    momentum must be a number (PyTorch's momentum=None cumulative average is the layer's
    job: pass momentum = 1 / num_batches_tracked).
    Returns (output (N, C, *), save_mean (C,), save_invstd (C,)); in eval the saved values
    are running_mean and 1/sqrt(running_var + eps).
    """
    x = as_float32(input, "input")
    if training and x.ndim >= 2:
        _check_running(running_mean, x.shape[1], "running_mean")
        _check_running(running_var, x.shape[1], "running_var")
    elif not training:  # read only: any array-like will do
        running_mean, running_var = _read_only_stat(running_mean), _read_only_stat(running_var)
    return _core.batch_norm_forward(x, running_mean, running_var, _opt(weight, "weight"),
                                    _opt(bias, "bias"), bool(training), _momentum(momentum),
                                    _float(eps, "eps"))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization (torch.nn.functional.batch_norm).

    input (N, C), (N, C, L) or (N, C, H, W); running_mean, running_var (C,) float32,
    updated in place when training (may be None when training); weight, bias (C,) or None.
    Returns the output, same shape as input. See batch_norm_forward for the details.
    """
    return batch_norm_forward(input, running_mean, running_var, weight, bias, training, momentum,
                              eps)[0]


def batch_norm_backward(grad_output, input, weight, save_mean, save_invstd, training=True):
    """Gradients of batch_norm.

    grad_output, input (N, C, *); weight (C,) or None; save_mean, save_invstd (C,) from
    batch_norm_forward. training=True differentiates through the batch statistics;
    training=False treats them as constants: grad_input = grad_output * weight * invstd.
    Returns (grad_input (N, C, *), grad_weight (C,), grad_bias (C,)); the last two are None
    when weight is None.
    """
    return _core.batch_norm_backward(as_float32(grad_output, "grad_output"),
                                     as_float32(input, "input"), _opt(weight, "weight"),
                                     as_float32(save_mean, "save_mean"),
                                     as_float32(save_invstd, "save_invstd"), bool(training))


# ---- layer norm ---------------------------------------------------------------------

def _normalized_shape(value) -> list[int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, (str, bytes)):
        raise TypeError(f"normalized_shape must be an int or a sequence of ints, got {value!r}")
    try:
        return [_int(v, "normalized_shape") for v in value]
    except TypeError:
        raise TypeError(f"normalized_shape must be an int or a sequence of ints, got {value!r}") from None


def layer_norm_forward(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer norm returning what the backward needs (torch.native_layer_norm).

    input (*, *normalized_shape); weight, bias of shape normalized_shape or None.
    Returns (output like input, mean, rstd); mean and rstd have the input's leading dims
    and 1 for each normalized dim, e.g. (N, 1) for input (N, D).
    """
    return _core.layer_norm_forward(as_float32(input, "input"), _normalized_shape(normalized_shape),
                                    _opt(weight, "weight"), _opt(bias, "bias"), _float(eps, "eps"))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the trailing dims (torch.nn.functional.layer_norm).

    input (*, *normalized_shape); weight, bias of shape normalized_shape or None.
    Returns the output, same shape as input.
    """
    return layer_norm_forward(input, normalized_shape, weight, bias, eps)[0]


def layer_norm_backward(grad_output, input, normalized_shape, mean, rstd, weight=None):
    """Gradients of layer_norm.

    grad_output, input (*, *normalized_shape); mean, rstd from layer_norm_forward (one value
    per row); weight of shape normalized_shape or None.
    Returns (grad_input, grad_weight, grad_bias); the last two (shape normalized_shape) are
    None when weight is None.
    """
    return _core.layer_norm_backward(as_float32(grad_output, "grad_output"),
                                     as_float32(input, "input"), _normalized_shape(normalized_shape),
                                     as_float32(mean, "mean"), as_float32(rstd, "rstd"),
                                     _opt(weight, "weight"))


# ---- group norm ---------------------------------------------------------------------

def group_norm_forward(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group norm returning what the backward needs (torch.native_group_norm).

    input (N, C, *); num_groups divides C; weight, bias (C,) or None.
    Returns (output (N, C, *), mean (N, num_groups), rstd (N, num_groups)).
    """
    return _core.group_norm_forward(as_float32(input, "input"), _int(num_groups, "num_groups"),
                                    _opt(weight, "weight"), _opt(bias, "bias"), _float(eps, "eps"))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (torch.nn.functional.group_norm): statistics per sample over
    each group of C/num_groups channels and all spatial positions.

    input (N, C, *); weight, bias (C,) or None. Returns the output, same shape as input.
    """
    return group_norm_forward(input, num_groups, weight, bias, eps)[0]


def group_norm_backward(grad_output, input, num_groups, mean, rstd, weight=None):
    """Gradients of group_norm.

    grad_output, input (N, C, *); mean, rstd (N, num_groups) from group_norm_forward;
    weight (C,) or None. Returns (grad_input (N, C, *), grad_weight (C,), grad_bias (C,));
    the last two are None when weight is None.
    """
    return _core.group_norm_backward(as_float32(grad_output, "grad_output"),
                                     as_float32(input, "input"), _int(num_groups, "num_groups"),
                                     as_float32(mean, "mean"), as_float32(rstd, "rstd"),
                                     _opt(weight, "weight"))


# ---- instance norm ------------------------------------------------------------------

def instance_norm_forward(input, running_mean=None, running_var=None, weight=None, bias=None,
                          use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance norm returning what the backward needs.

    input (N, C, *) with at least one spatial dim; running_mean, running_var (C,) float32
    or None; weight, bias (C,) or None.
    use_input_stats=True: statistics per (sample, channel) over the spatial dims (group
    norm with num_groups = C); a spatial size of 1 is a ValueError, as PyTorch. Given
    running stats move in place towards the batch average of the per-instance mean and
    UNBIASED variance.
    use_input_stats=False: normalize with running_mean / running_var (required).
    Returns (output (N, C, *), mean (N, C), rstd (N, C)).
    """
    x = as_float32(input, "input")
    if x.ndim < 3:
        raise ValueError(f"input must have at least 3 dimensions (N, C, spatial...), got shape {x.shape}")
    n, c = x.shape[:2]
    spatial = int(np.prod(x.shape[2:], dtype=np.int64))
    if use_input_stats:
        _check_running(running_mean, c, "running_mean")
        _check_running(running_var, c, "running_var")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both be None")
    momentum = _momentum(momentum)
    if not use_input_stats:
        if running_mean is None:
            raise ValueError("instance_norm with use_input_stats=False needs running_mean and running_var")
        y, mean, rstd = _core.batch_norm_forward(x, _read_only_stat(running_mean), _read_only_stat(running_var), _opt(weight, "weight"),
                                                 _opt(bias, "bias"), False, momentum, _float(eps, "eps"))
        return y, np.broadcast_to(mean, (n, c)).copy(), np.broadcast_to(rstd, (n, c)).copy()
    if spatial == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {x.shape}")
    y, mean, rstd = group_norm_forward(x, c, weight, bias, eps)
    if running_mean is not None and n > 0:
        # Per-instance unbiased variance from rstd = 1/sqrt(var + eps), in float64.
        var = (1.0 / rstd.astype(np.float64) ** 2 - float(eps)) * (spatial / (spatial - 1))
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean.mean(axis=0, dtype=np.float64)
        running_var[...] = (1 - momentum) * running_var + momentum * var.mean(axis=0)
    return y, mean, rstd


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalization (torch.nn.functional.instance_norm).

    input (N, C, *); running_mean, running_var (C,) float32 or None (updated in place when
    use_input_stats); weight, bias (C,) or None. Returns the output, same shape as input.
    """
    return instance_norm_forward(input, running_mean, running_var, weight, bias, use_input_stats,
                                 momentum, eps)[0]


def instance_norm_backward(grad_output, input, mean, rstd, weight=None):
    """Gradients of instance_norm with use_input_stats=True (for running statistics use
    batch_norm_backward(..., training=False)).

    grad_output, input (N, C, *); mean, rstd (N, C) from instance_norm_forward; weight (C,)
    or None. Returns (grad_input, grad_weight (C,), grad_bias (C,)); the last two are None
    when weight is None.
    """
    x = as_float32(input, "input")
    if x.ndim < 3:
        raise ValueError(f"input must have at least 3 dimensions (N, C, spatial...), got shape {x.shape}")
    return group_norm_backward(grad_output, x, x.shape[1], mean, rstd, weight)


# ---- local response norm ------------------------------------------------------------

def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (torch.nn.functional.local_response_norm).

    input (N, C, *) with at least one spatial dim. Channel c is divided by
    (k + alpha/size * sum of input^2 over channels c - size//2 .. c + (size-1)//2)^beta,
    channels outside [0, C) counting as zero. Returns the output, same shape as input.
    """
    return _core.local_response_norm(as_float32(input, "input"), _int(size, "size"),
                                     _float(alpha, "alpha"), _float(beta, "beta"), _float(k, "k"))


def local_response_norm_backward(grad_output, input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Gradient of local_response_norm with respect to its input.

    grad_output, input (N, C, *). Returns grad_input, same shape as input.
    """
    return _core.local_response_norm_backward(as_float32(grad_output, "grad_output"),
                                              as_float32(input, "input"), _int(size, "size"),
                                              _float(alpha, "alpha"), _float(beta, "beta"),
                                              _float(k, "k"))


# ---- recording versions (autograd) ----------------------------------------------------------
from ..autograd import array_of as _array_of, record as _record, wants as _wants  # noqa: E402
from ._registry import grad_rule as _grad_rule  # noqa: E402


def _input_array(input):
    """The input as the kernels take it, converted once for forward and backward (a GPU
    array stays where it is)."""
    x = _array_of(input)
    return x if type(x).__module__ == "cnnnative._cuda" else as_float32(x, "input")


def _affine_grads(gx, gw, gb, g, x, input, weight, bias, reduce_axes):
    """(grad_input, grad_weight, grad_bias) as the walk wants them. The kernels give the
    affine gradients only when a weight exists; a bias without a weight sums g itself."""
    if gb is None and _wants(bias):
        host = g.numpy() if type(g).__module__ == "cnnnative._cuda" else np.asarray(g, np.float32)
        gb = host.sum(axis=reduce_axes, dtype=np.float64).astype(np.float32)
        if type(g).__module__ == "cnnnative._cuda":
            from .. import cuda
            gb = cuda.from_numpy(gb, device=g.device)
    return (gx if _wants(input) else None), (gw if _wants(weight) else None), (gb if _wants(bias) else None)


@_grad_rule("batch_norm")
def _batch_norm_recorded(input, running_mean, running_var, weight=None, bias=None, training=False,
                         momentum=0.1, eps=1e-5):
    x, w = _input_array(input), _array_of(weight)
    y, mean, invstd = batch_norm_forward(x, running_mean, running_var, w, _array_of(bias), training,
                                         momentum, eps)
    training = bool(training)

    def backward(g):
        gx, gw, gb = batch_norm_backward(g, x, w, mean, invstd, training)
        return _affine_grads(gx, gw, gb, g, x, input, weight, bias, (0,) + tuple(range(2, x.ndim)))

    return _record(y, (input, weight, bias), backward, "batch_norm")


@_grad_rule("layer_norm")
def _layer_norm_recorded(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    x, w = _input_array(input), _array_of(weight)
    y, mean, rstd = layer_norm_forward(x, normalized_shape, w, _array_of(bias), eps)
    lead = x.ndim - len(_normalized_shape(normalized_shape))

    def backward(g):
        gx, gw, gb = layer_norm_backward(g, x, normalized_shape, mean, rstd, w)
        return _affine_grads(gx, gw, gb, g, x, input, weight, bias, tuple(range(lead)))

    return _record(y, (input, weight, bias), backward, "layer_norm")


@_grad_rule("group_norm")
def _group_norm_recorded(input, num_groups, weight=None, bias=None, eps=1e-5):
    x, w = _input_array(input), _array_of(weight)
    y, mean, rstd = group_norm_forward(x, num_groups, w, _array_of(bias), eps)

    def backward(g):
        gx, gw, gb = group_norm_backward(g, x, num_groups, mean, rstd, w)
        return _affine_grads(gx, gw, gb, g, x, input, weight, bias, (0,) + tuple(range(2, x.ndim)))

    return _record(y, (input, weight, bias), backward, "group_norm")


@_grad_rule("instance_norm")
def _instance_norm_recorded(input, running_mean=None, running_var=None, weight=None, bias=None,
                            use_input_stats=True, momentum=0.1, eps=1e-5):
    x, w = _input_array(input), _array_of(weight)
    y, mean, rstd = instance_norm_forward(x, running_mean, running_var, w, _array_of(bias), use_input_stats,
                                          momentum, eps)

    def backward(g):
        if use_input_stats:
            gx, gw, gb = instance_norm_backward(g, x, mean, rstd, w)
        else:  # running statistics are constants: batch norm's eval-mode backward
            gx, gw, gb = batch_norm_backward(g, x, w, mean[0], rstd[0], False)
        return _affine_grads(gx, gw, gb, g, x, input, weight, bias, (0,) + tuple(range(2, x.ndim)))

    return _record(y, (input, weight, bias), backward, "instance_norm")


@_grad_rule("local_response_norm")
def _local_response_norm_recorded(input, size, alpha=1e-4, beta=0.75, k=1.0):
    x = _input_array(input)
    y = local_response_norm(x, size, alpha, beta, k)
    return _record(y, (input,), lambda g: (local_response_norm_backward(g, x, size, alpha, beta, k),),
                   "local_response_norm")
