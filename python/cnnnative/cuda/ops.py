"""Functional ops on cnnnative.cuda.Tensor, with the names and signatures of cnnnative.ops
(and so of torch.nn.functional). NCHW float32 activations, OIHW weights, int64 indices and
labels, uint8 dropout masks. Arguments must already be on the GPU (a Tensor, or a CUDA
array from PyTorch/CuPy, shared without a copy): host arrays are refused with a TypeError
rather than silently copied. Results are new Tensors; the *_ functions work in place.
"""
from __future__ import annotations

import math
import os

from ..ops._args import pair
# The host ops' argument normalisation (int64 range checks, memoised geometry), shared.
from ..ops.conv import _geometry, _size4

__all__ = [
    "conv2d", "conv2d_input", "conv2d_weight", "conv2d_bias", "conv_algorithms", "depthwise_conv2d_weight",
    "gemm", "matmul", "linear", "linear_backward", "set_allow_tf32", "get_allow_tf32",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "relu", "relu_backward", "relu6", "relu6_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "add", "add_relu",
    "cross_entropy", "cross_entropy_backward",
    "dropout", "dropout_backward",
    "batch_norm_forward", "batch_norm_backward", "batch_norm",
    "group_norm_forward", "group_norm_backward", "group_norm",
    "instance_norm_forward", "instance_norm_backward", "instance_norm",
    "layer_norm_forward", "layer_norm_backward", "layer_norm",
    "local_response_norm", "local_response_norm_backward",
    "sgd_step", "scale_", "sum_of_squares", "concat", "narrow",
]


def _c():
    from . import _require
    return _require()


def _t(x, name):
    from . import as_tensor
    _c()
    return as_tensor(x, name)


def _opt(x, name):
    return None if x is None else _t(x, name)


# --- convolution ---------------------------------------------------------------------------

def conv_algorithms(input_size, weight_size, stride=1, padding=0, dilation=1, groups=1) -> dict:
    """Which GPU algorithms can run this convolution (as cnnnative.ops.conv_algorithms):
    {name: {supported, reason, backward_input, workspace_bytes}, ..., "auto": the choice}.
    input_size (N, C, H, W), weight_size (K, C/groups, R, S)."""
    N, C, H, W = _size4(input_size, "input_size")
    K, Cg, R, S = _size4(weight_size, "weight_size")
    st, pad, dil, groups = _geometry(stride, padding, dilation, groups)
    depthwise = groups == C and groups > 1
    winograd = (R, S) == (3, 3) and st == (1, 1) and dil == (1, 1) and groups == 1
    why_not_winograd = "" if winograd else "needs a 3x3 kernel, stride 1, dilation 1, groups 1"

    def entry(ok, reason):
        return {"supported": ok, "reason": reason, "backward_input": False, "workspace_bytes": 0}
    table = {
        "implicit_gemm": dict(entry(True, ""), backward_input=True),
        "depthwise": dict(entry(depthwise, "" if depthwise else "needs groups == C > 1"), backward_input=True),
        "winograd_f2x3": entry(winograd, why_not_winograd),
        "winograd_f4x3": entry(winograd, why_not_winograd),
    }
    if winograd:
        for m in (2, 4):
            th, tw = -(-(H + pad[0] + pad[1] - 2) // m), -(-(W + pad[2] + pad[3] - 2) // m)
            a2, tiles = (m + 2) ** 2, N * th * tw
            table[f"winograd_f{m}x3"]["workspace_bytes"] = 4 * a2 * (K * C + C * tiles + K * tiles)
    table["auto"] = ("depthwise" if depthwise else
                     "winograd_f4x3" if winograd and C >= 64 and K >= 64 else "implicit_gemm")
    return table


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    """2-D convolution (cross-correlation). input (N, C, H, W); weight (K, C/groups, R, S);
    bias (K,) or None. stride/dilation int or pair; padding int, pair or (top, bottom, left,
    right). algo: "auto" (the direct depthwise kernel when groups == C > 1; Winograd F(4x4,
    3x3) for 3x3 stride-1 layers with C, K >= 64; else implicit GEMM), or one of
    "implicit_gemm", "depthwise", "winograd_f2x3", "winograd_f4x3" (see conv_algorithms).
    Returns (N, K, OH, OW)."""
    x, w, b = _t(input, "input"), _t(weight, "weight"), _opt(bias, "bias")
    return _c().conv2d(x, w, b, *_geometry(stride, padding, dilation, groups), str(algo))


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *, algo="auto"):
    """Gradient of conv2d w.r.t. its input: input_size (N, C, H, W); weight (K, C/groups, R, S);
    grad_output (N, K, OH, OW). Returns (N, C, H, W)."""
    return _c().conv2d_input(_size4(input_size, "input_size"), _t(weight, "weight"),
                             _t(grad_output, "grad_output"), *_geometry(stride, padding, dilation, groups))


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                  with_bias=False):
    """Gradient of conv2d w.r.t. its weight: input (N, C, H, W); weight_size (K, C/groups, R, S);
    grad_output (N, K, OH, OW). Returns (K, C/groups, R, S), or (dw, db) with with_bias."""
    x, g = _t(input, "input"), _t(grad_output, "grad_output")
    dw = _c().conv2d_weight(x, _size4(weight_size, "weight_size"), g,
                            *_geometry(stride, padding, dilation, groups))
    return (dw, _c().bias_grad(g)) if with_bias else dw


def depthwise_conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=None, *,
                            with_bias=False):
    """Weight gradient of a depthwise conv2d (groups == C, the default): input (N, C, H, W),
    weight_size (K, 1, R, S) with K a multiple of C, grad_output (N, K, OH, OW). Returns
    (K, 1, R, S), or (grad_weight, grad_bias (K,)) with with_bias. The direct kernel."""
    x = _t(input, "input")
    if groups is None:
        if x.ndim != 4:
            raise ValueError(f"input must be 4-D, got shape {x.shape}")
        groups = x.shape[1]
    return conv2d_weight(x, weight_size, grad_output, stride, padding, dilation, groups, with_bias=with_bias)


def conv2d_bias(grad_output):
    """Bias gradient: grad_output (N, K, ...) summed over every axis but 1 -> (K,)."""
    return _c().bias_grad(_t(grad_output, "grad_output"))


# --- GEMM and linear -----------------------------------------------------------------------

_TF32 = {"allowed": False}


def set_allow_tf32(allowed: bool) -> None:
    """Let gemm/linear round inputs to TF32 and use the tensor cores (sm_80+); off by
    default (as PyTorch's torch.backends.cuda.matmul.allow_tf32). ~1e-3 relative error."""
    _TF32["allowed"] = bool(allowed)


def get_allow_tf32() -> bool:
    """Whether gemm/linear use the TF32 tensor-core path by default."""
    return _TF32["allowed"]


_ACTIVATIONS = {None: (-math.inf, math.inf), "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None, row_bias=None, col_bias=None,
         activation=None, allow_tf32=None):
    """C = act(alpha * op(a) @ op(b) + beta * out + row_bias[:, None] + col_bias[None, :]); a, b
    2-D; (M, K) / (K, N) before the transposes. out (M, N) is written in place when given
    (needed for beta != 0; beta == 0 never reads it). activation: None, "relu" or "relu6",
    fused into the store. allow_tf32: None follows set_allow_tf32 (off by default).
    Returns C (M, N)."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    lo, hi = _ACTIVATIONS[activation]
    tf32 = _TF32["allowed"] if allow_tf32 is None else bool(allow_tf32)
    return _c().gemm(_t(a, "a"), _t(b, "b"), bool(trans_a), bool(trans_b), float(alpha), float(beta),
                     None if out is None else _t(out, "out"), _opt(row_bias, "row_bias"),
                     _opt(col_bias, "col_bias"), lo, hi, tf32)


def matmul(a, b):
    """a @ b for 2-D tensors: (M, K) x (K, N) -> (M, N)."""
    return gemm(a, b)


def linear(input, weight, bias=None):
    """input (N, in) @ weight (out, in).T + bias (out,) -> (N, out)."""
    return gemm(input, weight, trans_b=True, col_bias=bias)


def linear_backward(grad_output, input, weight, need_bias=True):
    """Gradients of linear: grad_output (N, out), input (N, in), weight (out, in) ->
    (grad_input (N, in), grad_weight (out, in), grad_bias (out,) or None)."""
    g, x, w = _t(grad_output, "grad_output"), _t(input, "input"), _t(weight, "weight")
    gi = gemm(g, w)
    gw = gemm(g, x, trans_a=True)
    gb = _c().bias_grad(g) if need_bias else None
    return gi, gw, gb


# --- pooling -------------------------------------------------------------------------------

def _stride(stride, kernel):
    return kernel if stride is None else pair(stride, "stride")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling (N, C, H, W) -> (N, C, OH, OW); with return_indices also int64 indices
    ih * W + iw of each maximum in its plane (first maximum; NaN wins), as PyTorch."""
    k = pair(kernel_size, "kernel_size")
    y, idx = _c().max_pool2d(_t(input, "input"), k, _stride(stride, k), pair(padding, "padding"),
                             pair(dilation, "dilation"), bool(ceil_mode), bool(return_indices))
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_output, indices, input_size, *, out=None):
    """grad_output (N, C, OH, OW) added at `indices` into zeros of input_size (N, C, H, W).
    out: optional float32 Tensor of input_size's shape, zeroed and filled (must not overlap
    grad_output or indices). Returns the gradient (out when given)."""
    return _c().max_pool2d_backward(_t(grad_output, "grad_output"), _t(indices, "indices"),
                                    _size4(input_size, "input_size"), _opt(out, "out"))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling (N, C, H, W) -> (N, C, OH, OW), PyTorch's divisor rules."""
    k = pair(kernel_size, "kernel_size")
    return _c().avg_pool2d(_t(input, "input"), k, _stride(stride, k), pair(padding, "padding"),
                           bool(ceil_mode), bool(count_include_pad))


def avg_pool2d_backward(grad_output, input_size, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of avg_pool2d: grad_output (N, C, OH, OW) -> (N, C, H, W)."""
    k = pair(kernel_size, "kernel_size")
    return _c().avg_pool2d_backward(_t(grad_output, "grad_output"), _size4(input_size, "input_size"), k,
                                    _stride(stride, k), pair(padding, "padding"), bool(ceil_mode),
                                    bool(count_include_pad))


def global_avg_pool2d(input):
    """Mean of each plane: (N, C, H, W) -> (N, C, 1, 1)."""
    return _c().global_avg_pool2d(_t(input, "input"))


def global_avg_pool2d_backward(grad_output, input_size):
    """(N, C, 1, 1) -> (N, C, H, W), each element grad / (H*W)."""
    return _c().global_avg_pool2d_backward(_t(grad_output, "grad_output"), _size4(input_size, "input_size"))


# --- activations ---------------------------------------------------------------------------

# The ReLU family takes out= as cnnnative.ops does (the in-place layers pass it, also None):
# a Tensor of the input's shape to write into; out may be the input itself.

def relu(x, *, out=None):
    """max(x, 0) elementwise (NaN stays NaN). Any shape -> same shape (into `out` when
    given; out=x is in-place)."""
    return _c().activation("relu", _t(x, "input"), 0.0, _opt(out, "out"))


def relu_backward(grad_output, output, *, out=None):
    """grad_output where relu's output > 0, else 0 (into `out` when given; out=grad_output
    is in-place)."""
    return _c().activation_backward("relu", _t(grad_output, "grad_output"), _t(output, "output"), 0.0,
                                    _opt(out, "out"))


def relu6(x, *, out=None):
    """min(max(x, 0), 6) elementwise. Any shape -> same shape (into `out` when given)."""
    return _c().activation("relu6", _t(x, "input"), 0.0, _opt(out, "out"))


def relu6_backward(grad_output, output, *, out=None):
    """grad_output where 0 < output < 6, else 0 (into `out` when given)."""
    return _c().activation_backward("relu6", _t(grad_output, "grad_output"), _t(output, "output"), 0.0,
                                    _opt(out, "out"))


def leaky_relu(x, negative_slope=0.01, *, out=None):
    """x where x > 0, else x * negative_slope. Any shape (into `out` when given)."""
    return _c().activation("leaky_relu", _t(x, "input"), float(negative_slope), _opt(out, "out"))


def leaky_relu_backward(grad_output, input, negative_slope=0.01, *, out=None):
    """grad_output where the forward's input > 0, else grad_output * negative_slope (into
    `out` when given)."""
    return _c().activation_backward("leaky_relu", _t(grad_output, "grad_output"), _t(input, "input"),
                                    float(negative_slope), _opt(out, "out"))


def sigmoid(x):
    """1 / (1 + exp(-x)) elementwise."""
    return _c().activation("sigmoid", _t(x, "input"), 0.0)


def sigmoid_backward(grad_output, output):
    """grad_output * output * (1 - output)."""
    return _c().activation_backward("sigmoid", _t(grad_output, "grad_output"), _t(output, "output"), 0.0)


def tanh(x):
    """tanh elementwise."""
    return _c().activation("tanh", _t(x, "input"), 0.0)


def tanh_backward(grad_output, output):
    """grad_output * (1 - output**2)."""
    return _c().activation_backward("tanh", _t(grad_output, "grad_output"), _t(output, "output"), 0.0)


def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along dim (any dim; negative counts from the end)."""
    return _c().softmax(_t(x, "input"), int(dim), False)


def softmax_backward(grad_output, output, dim=-1):
    """output * (grad_output - sum(grad_output * output, dim))."""
    return _c().softmax_backward(_t(grad_output, "grad_output"), _t(output, "output"), int(dim), False)


def log_softmax(x, dim=-1):
    """x - logsumexp(x, dim)."""
    return _c().softmax(_t(x, "input"), int(dim), True)


def log_softmax_backward(grad_output, output, dim=-1):
    """grad_output - exp(output) * sum(grad_output, dim)."""
    return _c().softmax_backward(_t(grad_output, "grad_output"), _t(output, "output"), int(dim), True)


def add(a, b):
    """a + b elementwise, same shapes."""
    return _c().add(_t(a, "a"), _t(b, "b"), False)


def add_relu(a, b):
    """relu(a + b) in one pass."""
    return _c().add(_t(a, "a"), _t(b, "b"), True)


# --- loss ----------------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum", "none")


def _ce_scale(n, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return 1.0 / n if (reduction == "mean" and n > 0) else 1.0


def _ce_plain(op, weight, reduction, label_smoothing):
    """The GPU kernel is the plain case: weight and label smoothing are CPU-only (a string
    third argument is the reduction, as on the CPU)."""
    if isinstance(weight, str):
        weight, reduction = None, weight
    if weight is not None or label_smoothing != 0.0:
        raise ValueError(f"{op} on the GPU takes no weight or label_smoothing; compute this loss on the host "
                         "(cnnnative.ops with numpy arrays)")
    return reduction


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy: input logits (N, C) float32, target (N,) int64 class indices.
    reduction "mean" / "sum" -> Python float (summed in float64 on the host), "none" -> (N,)
    Tensor of per-sample losses. Labels outside [0, C) are a ValueError (an ignore_index
    label too: the GPU kernel has no ignored samples, weight or label smoothing)."""
    reduction = _ce_plain("cross_entropy", weight, reduction, label_smoothing)
    x, t = _t(input, "input"), _t(target, "target")
    _ce_scale(x.shape[0] if x.ndim else 0, reduction)
    loss, _ = _c().cross_entropy(x, t, False, 1.0, None)
    if reduction == "none":
        return loss
    losses = loss.numpy().astype("float64")
    total = float(losses.sum())
    return total / len(losses) if reduction == "mean" and len(losses) else (total if reduction == "sum" else math.nan)


def cross_entropy_backward(input, target, reduction="mean", grad=1.0, *, weight=None, ignore_index=-100,
                           label_smoothing=0.0):
    """Gradient of cross_entropy w.r.t. the logits: (softmax(input) - onehot(target)) times
    grad (and / N for "mean"). grad: the upstream gradient, a number, or for reduction
    "none" also a (N,) array or Tensor of per-row gradients. Returns (N, C)."""
    _ce_plain("cross_entropy_backward", weight, reduction, label_smoothing)
    x, t = _t(input, "input"), _t(target, "target")
    n = x.shape[0] if x.ndim else 0
    scale = _ce_scale(n, reduction)
    row_scale = None
    if isinstance(grad, (int, float)):
        scale *= float(grad)
    elif reduction == "none":
        from . import from_numpy, is_tensor
        row_scale = grad if is_tensor(grad) else from_numpy(grad)
        if row_scale.shape != (n,):
            raise ValueError(f"cross_entropy_backward: grad must be a number or ({n},), got shape {row_scale.shape}")
    else:
        scale *= float(grad)
    _, g = _c().cross_entropy(x, t, True, scale, row_scale)
    return g


# --- dropout -------------------------------------------------------------------------------

def dropout(input, p=0.5, training=True, *, seed=None, return_mask=False):
    """Inverted dropout with the CPU's generator: for the same seed the GPU drops exactly the
    elements the CPU drops. seed None draws the next seed of cnnnative.ops' process stream.
    Returns out, or (out, mask uint8) with return_mask. p in [0, 1)."""
    from ..ops import activation as _cpu_act
    p = _cpu_act._check_p(p)
    x = _t(input, "input")
    if p == 0.0 or not training:
        return (x, _ones_mask(x)) if return_mask else x
    s = _cpu_act._next_seed() if seed is None else int(seed) & (2 ** 64 - 1)
    y, mask = _c().dropout(x, p, s)
    return (y, mask) if return_mask else y


def _ones_mask(x):
    # A mask of ones: dropout with p = 0 keeps everything.
    _, mask = _c().dropout(x, 0.0, 0)
    return mask


def dropout_backward(grad_output, mask, p):
    """grad_output * mask / (1 - p)."""
    from ..ops import activation as _cpu_act
    return _c().dropout_backward(_t(grad_output, "grad_output"), _t(mask, "mask"), _cpu_act._check_p(p))


# --- normalisation -------------------------------------------------------------------------

def batch_norm_forward(input, running_mean, running_var, weight=None, bias=None, training=False,
                       momentum=0.1, eps=1e-5):
    """Batch norm over (N, C, ...): per-channel statistics over N and the spatial axes.
    training: batch statistics, running_mean/running_var (C,) updated in place when given
    (unbiased variance, as PyTorch); else the running statistics are used.
    Returns (y, mean (C,), invstd (C,)) for batch_norm_backward."""
    return _c().batch_norm_forward(_t(input, "input"), _opt(running_mean, "running_mean"),
                                   _opt(running_var, "running_var"), _opt(weight, "weight"),
                                   _opt(bias, "bias"), bool(training), float(momentum), float(eps))


def batch_norm_backward(grad_output, input, weight, save_mean, save_invstd, training=True):
    """Gradients of batch norm from the forward's (mean, invstd): (grad_input, grad_weight (C,),
    grad_bias (C,)). training=False: the statistics were constants (running ones)."""
    return _c().batch_norm_backward(_t(grad_output, "grad_output"), _t(input, "input"),
                                    _opt(weight, "weight"), _t(save_mean, "save_mean"),
                                    _t(save_invstd, "save_invstd"), bool(training))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """torch.nn.functional.batch_norm: the normalised input only."""
    return batch_norm_forward(input, running_mean, running_var, weight, bias, training, momentum, eps)[0]


def group_norm_forward(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group norm over (N, C, ...): statistics per sample and group of C/num_groups channels.
    Returns (y, mean (N, G), rstd (N, G))."""
    return _c().group_norm_forward(_t(input, "input"), int(num_groups), _opt(weight, "weight"),
                                   _opt(bias, "bias"), float(eps))


def group_norm_backward(grad_output, input, num_groups, mean, rstd, weight=None):
    """(grad_input, grad_weight (C,), grad_bias (C,))."""
    return _c().group_norm_backward(_t(grad_output, "grad_output"), _t(input, "input"), int(num_groups),
                                    _t(mean, "mean"), _t(rstd, "rstd"), _opt(weight, "weight"))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.group_norm."""
    return group_norm_forward(input, num_groups, weight, bias, eps)[0]


def instance_norm_forward(input, running_mean=None, running_var=None, weight=None, bias=None,
                          use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance norm (N, C, ...): statistics per sample and channel (group norm with G = C).
    running_mean/running_var (C,), when given, are updated in place with the batch average
    of the per-instance mean and unbiased variance, as PyTorch. use_input_stats=False
    (normalising with running statistics) is not implemented on the GPU.
    Returns (y, mean (N, C), rstd (N, C))."""
    x = _t(input, "input")
    if x.ndim < 2:
        raise ValueError(f"instance_norm: input must be (N, C, ...), got shape {x.shape}")
    if not use_input_stats:
        raise NotImplementedError("instance_norm with use_input_stats=False is not implemented on the GPU")
    y, mean, rstd = group_norm_forward(x, x.shape[1], weight, bias, eps)
    if running_mean is not None or running_var is not None:
        _update_instance_running_stats(x, mean, rstd, running_mean, running_var, float(momentum), float(eps))
    return y, mean, rstd


def _update_instance_running_stats(x, mean, rstd, running_mean, running_var, momentum, eps):
    # (N, C) statistics are small: update on the host, write back in place.
    import numpy as np
    hw = math.prod(x.shape[2:])
    m = mean.numpy().astype(np.float64)
    var = 1.0 / rstd.numpy().astype(np.float64) ** 2 - eps
    if hw > 1:
        var = var * hw / (hw - 1)
    for t, batch_value in ((running_mean, m.mean(axis=0)), (running_var, var.mean(axis=0))):
        if t is None:
            continue
        t = _t(t, "running statistics")
        new = (1.0 - momentum) * t.numpy().astype(np.float64) + momentum * batch_value
        _c().upload_into(t, np.ascontiguousarray(new, dtype=np.float32))


def instance_norm_backward(grad_output, input, mean, rstd, weight=None):
    """(grad_input, grad_weight (C,), grad_bias (C,))."""
    x = _t(input, "input")
    if x.ndim < 2:
        raise ValueError(f"instance_norm_backward: input must be (N, C, ...), got shape {x.shape}")
    return group_norm_backward(grad_output, x, x.shape[1], mean, rstd, weight)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """torch.nn.functional.instance_norm (input statistics only on the GPU)."""
    return instance_norm_forward(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)[0]


def _norm_numel(x, normalized_shape):
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(d) for d in normalized_shape)
    if len(shape) == 0 or len(shape) > x.ndim or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must equal the trailing dimensions of "
                         f"input shape {x.shape}")
    return math.prod(shape)


def layer_norm_forward(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer norm over the trailing dims `normalized_shape`; weight/bias of that shape.
    Returns (y, mean (rows,), rstd (rows,)), rows = input.size / prod(normalized_shape)."""
    x = _t(input, "input")
    w, b = _opt(weight, "weight"), _opt(bias, "bias")
    n = _norm_numel(x, normalized_shape)
    w = None if w is None else w.reshape(n)
    b = None if b is None else b.reshape(n)
    return _c().layer_norm_forward(x, n, w, b, float(eps))


def layer_norm_backward(grad_output, input, normalized_shape, mean, rstd, weight=None):
    """(grad_input, grad_weight, grad_bias); the parameter gradients have normalized_shape."""
    x = _t(input, "input")
    n = _norm_numel(x, normalized_shape)
    w = _opt(weight, "weight")
    gi, gw, gb = _c().layer_norm_backward(_t(grad_output, "grad_output"), x, n, _t(mean, "mean"),
                                          _t(rstd, "rstd"), None if w is None else w.reshape(n))
    shape = x.shape[x.ndim - (1 if isinstance(normalized_shape, int) else len(tuple(normalized_shape))):]
    return gi, gw.reshape(shape), gb.reshape(shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.layer_norm."""
    return layer_norm_forward(input, normalized_shape, weight, bias, eps)[0]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Across-channel LRN, PyTorch semantics: x / (k + alpha/size * sum of x^2 over the
    `size` channels around c) ** beta. input (N, C, ...)."""
    return _c().local_response_norm(_t(input, "input"), int(size), float(alpha), float(beta), float(k))


def local_response_norm_backward(grad_output, input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Gradient of local_response_norm w.r.t. its input (same shape)."""
    return _c().local_response_norm_backward(_t(grad_output, "grad_output"), _t(input, "input"), int(size),
                                             float(alpha), float(beta), float(k))


# --- optimiser -----------------------------------------------------------------------------

def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False):
    """PyTorch's SGD update, in place on param (and momentum_buffer, same shape as param):
    d = grad + weight_decay * param; buf = d on the first step, else momentum * buf +
    (1 - dampening) * d; d = d + momentum * buf if nesterov else buf; param -= lr * d."""
    _c().sgd_step(_t(param, "param"), _t(grad, "grad"), _opt(momentum_buffer, "momentum_buffer"), float(lr),
                  float(momentum), float(dampening), float(weight_decay), bool(nesterov), bool(first_step))
    return param


def scale_(x, s):
    """x *= s in place."""
    _c().scale_(_t(x, "input"), float(s))


def sum_of_squares(x):
    """sum(x**2) as a Python float (accumulated in float64)."""
    return _c().sum_of_squares(_t(x, "input"))


# --- layout ----------------------------------------------------------------------------------

def concat(tensors, axis=1):
    """Concatenate same-dtype tensors along `axis` (shapes equal elsewhere): numpy.concatenate."""
    return _c().concat([_t(x, "tensors") for x in tensors], int(axis))


def narrow(x, axis, start, length):
    """A contiguous copy of x's [start, start + length) along `axis` (x[:, start:start+length]
    for axis 1)."""
    return _c().narrow(_t(x, "input"), int(axis), int(start), int(length))
