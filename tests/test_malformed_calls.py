"""Malformed calls to every public op in cnnnative.ops: each must either work (and, for a
layout-only change such as an unaligned, strided or read-only array, give exactly the
result of the plain call) or raise ValueError / TypeError / OverflowError. Never another
exception, never a crash, never a hang.

A seeded generator builds a valid call per op, then breaks one argument: its dtype
(object, complex, bool, int, float64), ndim, a zero / negative / huge size, a mismatched
shape, its layout (strided, unaligned, read-only), NaN/inf values, or a float where an
int is meant. The calls run in a child process with a timeout, so a crash or a hang fails
the test instead of killing or stalling the suite; tools/sanitize runs this file under
ASan + UBSan for every ISA.

Run by hand: PYTHONPATH=python python tests/test_malformed_calls.py [--seed N] [--calls N] [-v]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings

import numpy as np

ALLOWED = (ValueError, TypeError, OverflowError)
HUGE = (2**62, 2**63 - 1, 2**63, 2**64, -(2**63))
LAYOUT = ("strided", "unaligned", "readonly", "fortran")


# ---- array variants -----------------------------------------------------------------------

def unaligned(a):
    """A copy of `a` whose data starts one byte past an aligned address."""
    a = np.asarray(a)
    buf = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
    base = (-buf.ctypes.data) % max(a.itemsize, 1)  # aligned start, then one byte on
    v = np.ndarray(a.shape, a.dtype, buffer=buf, offset=base + 1)
    v[...] = a
    return v


def strided(a):
    """Same values, every other element of a doubled last axis (not C-contiguous)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def relayout(a, how):
    if how == "strided":
        return strided(a)
    if how == "unaligned":
        return unaligned(a)
    if how == "readonly":
        return readonly(a)
    return np.asfortranarray(a)


def break_array(a, rng):
    """(kind, a broken copy of a)."""
    a = np.asarray(a)
    kind = rng.choice(["object", "complex", "bool", "int", "float64", "float16", "ndim+", "ndim-", "zero",
                       "shape", "nan", "inf", "list", "none", "scalar", "empty"])
    if kind == "object":
        return kind, a.astype(object)
    if kind == "complex":
        return kind, a.astype(np.complex64)
    if kind == "bool":
        return kind, a.astype(bool)
    if kind == "int":
        return kind, a.astype(np.int32)
    if kind == "float64":
        return kind, a.astype(np.float64)
    if kind == "float16":
        return kind, a.astype(np.float16)
    if kind == "ndim+":
        return kind, a[None]
    if kind == "ndim-":
        return kind, a.reshape(-1) if a.ndim > 1 else (a[:1].reshape(()) if a.size else a)
    if kind == "zero" and a.ndim:
        shape = list(a.shape)
        shape[rng.integers(a.ndim)] = 0
        return kind, np.zeros(shape, a.dtype)
    if kind == "shape" and a.ndim:
        shape = list(a.shape)
        shape[rng.integers(a.ndim)] += 1
        return kind, np.ones(shape, a.dtype)
    if kind in ("nan", "inf") and a.dtype.kind == "f" and a.size:
        b = a.copy()
        b.flat[rng.integers(a.size)] = np.nan if kind == "nan" else -np.inf
        return kind, b
    if kind == "list":
        return kind, a.tolist()
    if kind == "none":
        return kind, None
    if kind == "scalar":
        return kind, np.float32(1.5)
    return "empty", np.zeros((0,) * max(a.ndim, 1), a.dtype)


def break_int(v, rng):
    choices = [0, -1, -7, 2.5, 2.0, None, "3", *HUGE, (1, 2, 3), (2**62, 1)]
    return rng.choice(np.array(choices, dtype=object))


# ---- one valid call per op -----------------------------------------------------------------

def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def make_calls(rng):
    """{op name: (args list, kwargs dict)}: a valid call for every op of cnnnative.ops."""
    import cnnnative.ops as ops

    n, c, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(5, 9)), int(rng.integers(5, 9))
    k = int(rng.integers(1, 4))
    x = f32(rng, n, c, h, w)
    cw = f32(rng, k, c, 3, 3)
    y = ops.conv2d(x, cw, padding=1)
    pooled, idx = ops.max_pool2d(x, 2, return_indices=True)
    m, kk, nn_ = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
    logits = f32(rng, 4, 5)
    target = rng.integers(0, 5, 4).astype(np.int64)
    probs = ops.softmax(logits, 1)
    _, mask = ops.dropout(x, 0.5, seed=1, return_mask=True)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    bn = ops.batch_norm_forward(x, rm.copy(), rv.copy(), training=True)
    ln = ops.layer_norm_forward(x, (h, w))
    gn = ops.group_norm_forward(x, 1)
    inn = ops.instance_norm_forward(x)
    lin_x, lin_w = f32(rng, 3, 4), f32(rng, 5, 4)
    wino_w = f32(rng, 4, c, 3, 3)
    prepared = ops.winograd_prepare(wino_w)
    dw = f32(rng, c, 1, 3, 3)
    x3, w3 = x[:, :, None, :, :].repeat(3, axis=2), cw[:, :, None].repeat(2, axis=2)  # (N, C, 3, H, W), 2x3x3
    y3 = ops.conv3d(x3, w3, padding=1)
    x5 = f32(rng, n, c, 3, h, w)
    x1 = np.ascontiguousarray(x[:, :, 0])
    p1, i1 = ops.max_pool1d(x1, 2, return_indices=True)
    p3, i3 = ops.max_pool3d(x5, 2, return_indices=True)
    ap, ai = ops.adaptive_max_pool2d(x, (3, 2), return_indices=True)
    cp, ci = ops.max_pool_channels(x, c, return_indices=True)
    more_pooling = {
        "max_pool1d": ([x1, 3], {"stride": 2, "padding": 1}),
        "avg_pool1d": ([x1, 3], {"stride": 2, "padding": 1}),
        "max_pool3d": ([x5, 2], {"stride": 1, "padding": 1}),
        "max_pool3d_backward": ([p3, i3, x5.shape], {}),
        "avg_pool3d": ([x5, 3], {"stride": 2, "padding": 1}),
        "avg_pool3d_backward": ([ops.avg_pool3d(x5, 3, 2, 1), x5.shape, 3], {"stride": 2, "padding": 1}),
        "adaptive_avg_pool1d": ([x1, 3], {}),
        "adaptive_avg_pool2d": ([x, (3, 2)], {}),
        "adaptive_avg_pool3d": ([x5, (2, 3, 4)], {}),
        "adaptive_max_pool1d": ([x1, 3], {}),
        "adaptive_max_pool2d": ([x, (3, 2)], {"return_indices": True}),
        "adaptive_max_pool3d": ([x5, (2, 3, 4)], {}),
        "adaptive_avg_pool_backward": ([ops.adaptive_avg_pool2d(x, (3, 2)), x.shape], {}),
        "adaptive_max_pool_backward": ([ap, ai, x.shape], {}),
        "max_pool_channels": ([x, c], {"return_indices": True}),
        "max_pool_channels_backward": ([cp, ci, x.shape, c], {}),
        "avg_pool_channels": ([x, c], {}),
        "avg_pool_channels_backward": ([ops.avg_pool_channels(x, c), x.shape, c], {}),
        "lp_pool1d": ([np.abs(x1), 2.0, 3], {"stride": 2}),
        "lp_pool2d": ([np.abs(x), 2.0, 2], {"ceil_mode": True}),
        "max_unpool1d": ([p1, i1, 2], {"output_size": (w,)}),
        "max_unpool2d": ([pooled, idx, 2], {"output_size": (h, w)}),
    }
    return more_pooling | {
        "conv3d": ([x3, w3, f32(rng, k)], {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}),
        "conv3d_input": ([x3.shape, w3, y3], {"padding": 1}),
        "conv3d_weight": ([x3, w3.shape, y3], {"padding": 1}),
        "conv3d_bias": ([y3], {}),
        "conv_transpose3d": ([y3, w3, f32(rng, c)], {"stride": 2, "padding": 1, "output_padding": 1}),
        "gemm": ([f32(rng, m, kk), f32(rng, kk, nn_)], {}),
        "matmul": ([f32(rng, m, kk), f32(rng, kk, nn_)], {}),
        "conv2d": ([x, cw, f32(rng, k)], {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}),
        "conv1d": ([x[:, :, 0], cw[:, :, 0], f32(rng, k)], {"stride": 1, "padding": (2, 0), "dilation": 1,
                                                           "groups": 1}),
        "locally_connected2d": ([x, f32(rng, h * w, k, c * 9), f32(rng, k, h, w), 3], {"stride": 1, "padding": 1}),
        "tiled_conv2d": ([x, f32(rng, 4, k, c, 3, 3), f32(rng, k), (2, 2)], {"stride": 1, "padding": 1}),
        "conv_transpose2d": ([x, cw.transpose(1, 0, 2, 3).copy(), f32(rng, k)],
                             {"stride": 2, "padding": 1, "output_padding": 1, "groups": 1, "dilation": 1}),
        "conv_transpose1d": ([x[:, :, 0], cw[:, :, 0].transpose(1, 0, 2).copy(), f32(rng, k)],
                             {"stride": 2, "padding": 1, "output_padding": 1, "groups": 1, "dilation": 1}),
        "conv2d_input": ([x.shape, cw, y], {"padding": 1}),
        "conv2d_weight": ([x, cw.shape, y], {"padding": 1}),
        "conv2d_bias": ([y], {}),
        "conv_algorithms": ([x.shape, cw.shape], {"padding": 1}),
        "depthwise_conv2d_weight": ([x, dw.shape, ops.conv2d(x, dw, padding=1, groups=c)],
                                    {"padding": 1, "groups": c}),
        "winograd_prepare": ([wino_w], {}),
        "winograd_conv2d_prepared": ([x, prepared], {"padding": 1}),
        "max_pool2d": ([x, 2], {"stride": 2, "padding": 1, "dilation": 1}),
        "max_pool2d_backward": ([pooled, idx, x.shape], {}),
        "avg_pool2d": ([x, 3], {"stride": 2, "padding": 1}),
        "avg_pool2d_backward": ([ops.avg_pool2d(x, 3, 2, 1), x.shape, 3], {"stride": 2, "padding": 1}),
        "global_avg_pool2d": ([x], {}),
        "global_avg_pool2d_backward": ([f32(rng, n, c, 1, 1), x.shape], {}),
        "relu": ([x], {}),
        "relu_backward": ([x, x], {}),
        "relu6": ([x], {}),
        "relu6_backward": ([x, x], {}),
        "leaky_relu": ([x, 0.1], {}),
        "leaky_relu_backward": ([x, x, 0.1], {}),
        "sigmoid": ([x], {}),
        "sigmoid_backward": ([x, x], {}),
        "tanh": ([x], {}),
        "tanh_backward": ([x, x], {}),
        "silu": ([x], {}),
        "silu_backward": ([x, x], {}),
        "gelu": ([x], {"approximate": "tanh"}),
        "gelu_backward": ([x, x], {"approximate": "none"}),
        "hardswish": ([x], {}),
        "hardswish_backward": ([x, x], {}),
        "hardsigmoid": ([x], {}),
        "hardsigmoid_backward": ([x, x], {}),
        "prelu": ([x, f32(rng, c)], {}),
        "prelu_backward": ([x, x, f32(rng, c)], {}),
        "elu": ([x, 0.5], {}),
        "elu_backward": ([x, x, 0.5], {}),
        "selu": ([x], {}),
        "selu_backward": ([x, x], {}),
        "celu": ([x, 1.5], {}),
        "celu_backward": ([x, x, 1.5], {}),
        "hardtanh": ([x, -0.5, 0.5], {}),
        "hardtanh_backward": ([x, x, -0.5, 0.5], {}),
        "threshold": ([x, 0.1, -1.0], {}),
        "threshold_backward": ([x, x, 0.1], {}),
        "mish": ([x], {}),
        "mish_backward": ([x, x], {}),
        "softplus": ([x], {"beta": 2.0, "threshold": 5.0}),
        "softplus_backward": ([x, x], {"beta": 2.0, "threshold": 5.0}),
        "softsign": ([x], {}),
        "softsign_backward": ([x, x], {}),
        "logsigmoid": ([x], {}),
        "logsigmoid_backward": ([x, x], {}),
        "dropout2d": ([x, 0.5], {"seed": 3}),
        "dropout3d": ([x, 0.5], {"seed": 3}),
        "alpha_dropout": ([x, 0.5, True], {"seed": 3}),
        "softmax": ([x, 1], {}),
        "softmax_backward": ([x, x, 1], {}),
        "log_softmax": ([x, -1], {}),
        "log_softmax_backward": ([x, x, -1], {}),
        "add": ([x, x], {}),
        "add_relu": ([x, x], {}),
        "dropout": ([x, 0.5], {"seed": 3}),
        "pad": ([x, (2, 1, 1, 3)], {"mode": "reflect"}),
        "pad_backward": ([ops.pad(x, (2, 1, 1, 3), "replicate"), x.shape, (2, 1, 1, 3)], {"mode": "replicate"}),
        "dropout_backward": ([x, mask, 0.5], {}),
        "cross_entropy": ([logits, target], {"weight": np.abs(f32(rng, 5)), "ignore_index": 2,
                                             "label_smoothing": 0.1}),
        "cross_entropy_backward": ([logits, target], {"weight": np.abs(f32(rng, 5))}),
        "nll_loss": ([logits, target], {"weight": np.abs(f32(rng, 5)), "ignore_index": 1}),
        "nll_loss_backward": ([logits, target], {}),
        "mse_loss": ([x, f32(rng, *x.shape)], {"reduction": "sum"}),
        "l1_loss": ([x, f32(rng, *x.shape)], {}),
        "smooth_l1_loss": ([x, f32(rng, *x.shape)], {"beta": 0.5}),
        "huber_loss": ([x, f32(rng, *x.shape)], {"delta": 0.5}),
        "binary_cross_entropy": ([probs, probs[::-1].copy()], {"weight": np.abs(f32(rng, 5))}),
        "binary_cross_entropy_with_logits": ([logits, probs], {"weight": f32(rng, 4, 1),
                                                               "pos_weight": np.abs(f32(rng, 5))}),
        "kl_div": ([ops.log_softmax(logits, 1), probs], {"reduction": "batchmean"}),
        "linear": ([lin_x, lin_w, f32(rng, 5)], {}),
        "linear_backward": ([f32(rng, 3, 5), lin_x, lin_w], {}),
        "batch_norm": ([x, rm.copy(), rv.copy(), np.ones(c, np.float32), np.zeros(c, np.float32)], {}),
        "batch_norm_forward": ([x, rm.copy(), rv.copy()], {"training": True}),
        "batch_norm_backward": ([x, x, np.ones(c, np.float32), bn[1], bn[2]], {}),
        "layer_norm": ([x, (h, w)], {}),
        "layer_norm_forward": ([x, (h, w)], {}),
        "layer_norm_backward": ([x, x, (h, w), ln[1], ln[2]], {}),
        "group_norm": ([x, 1], {}),
        "group_norm_forward": ([x, 1], {}),
        "group_norm_backward": ([x, x, 1, gn[1], gn[2]], {}),
        "instance_norm": ([x], {}),
        "instance_norm_forward": ([x], {}),
        "instance_norm_backward": ([x, x, inn[1], inn[2]], {}),
        "local_response_norm": ([x, 3], {}),
        "local_response_norm_backward": ([x, x, 3], {}),
        "sgd_step": ([f32(rng, 6), f32(rng, 6)], {"lr": 0.1}),
        "adam_step": ([f32(rng, 6), f32(rng, 6), np.zeros(6, np.float32), np.zeros(6, np.float32)],
                      {"step": 1, "lr": 0.1}),
        "rmsprop_step": ([f32(rng, 6), f32(rng, 6), np.zeros(6, np.float32)], {"lr": 0.1}),
        "adagrad_step": ([f32(rng, 6), f32(rng, 6), np.zeros(6, np.float32)], {"step": 1, "lr": 0.1}),
        "sum_of_squares": ([x], {}),
        "scale_": ([f32(rng, 6), 0.5], {}),
        # the Tensor's ops (elementwise, reduce, index, shape)
        "sub": ([x, f32(rng, w)], {}),
        "mul": ([x, f32(rng, c, 1, 1)], {}),
        "div": ([x, 2.0], {}),
        "pow": ([x, 2], {}),
        "maximum": ([x, x], {}),
        "minimum": ([x, f32(rng, h, 1)], {}),
        "neg": ([x], {}),
        "exp": ([x], {}),
        "log": ([x], {}),
        "sqrt": ([x], {}),
        "erf": ([x], {}),
        "fake_quantize_per_tensor_affine": ([x, 0.05, 3, -8, 7], {}),
        "abs": ([x], {}),
        "clamp": ([x], {"min": -0.5, "max": 0.5}),
        "sum": ([x, (1, 3)], {"keepdim": True}),
        "mean": ([x, 2], {}),
        "amax": ([x, -1], {}),
        "amin": ([x, (0, 1)], {}),
        "getitem": ([x, (0, slice(1, 3), None, 2)], {}),
        "reshape": ([x, (n * c, h, w)], {}),
        "flatten": ([x, 1, 2], {}),
        "transpose": ([x, 1, 3], {}),
        "permute": ([x, (3, 0, 2, 1)], {}),
        "squeeze": ([x[:, :1], 1], {}),
        "unsqueeze": ([x, 2], {}),
        "cat": ([[x, x[:, :1]], 1], {}),
        "stack": ([[x, x], 4], {}),
        "split": ([x, 2, 3], {}),
        "chunk": ([x, 3, 2], {}),
        # resampling and channel layout
        "interpolate": ([x], {"size": (h + 2, w - 1), "mode": "bilinear", "align_corners": True}),
        "interpolate_backward": ([f32(rng, n, c, 2 * h, 2 * w), x.shape], {"scale_factor": 2, "mode": "nearest"}),
        "pixel_shuffle": ([f32(rng, n, 4 * c, h, w), 2], {}),
        "pixel_unshuffle": ([f32(rng, n, c, 2 * h, 2 * w), 2], {}),
        "channel_shuffle": ([f32(rng, n, 2 * c, h, w), 2], {}),
        "channel_scale": ([x, f32(rng, n, c, 1, 1)], {}),
        "channel_scale_backward": ([x, x, f32(rng, n, c)], {}),
        # ONNX interchange
        "onnx_flat_indices": ([np.zeros((n, c, 2, 2), np.int64), (h, w)], {"storage_order": 1,
                                                                            "pads": (1, 0, 0, 1)}),
    }


# Ops without tensor arguments (global settings): not fuzzed.
SETTINGS = {"set_fast_algorithms", "get_fast_algorithms", "set_autotune", "get_autotune",
            "clear_autotune_cache", "set_dropout_seed"}


def copy_args(args, kwargs):
    cp = lambda v: v.copy() if isinstance(v, np.ndarray) else v  # noqa: E731
    return [cp(a) for a in args], {k: cp(v) for k, v in kwargs.items()}


def same(a, b):
    """Results equal, NaN == NaN, through tuples and scalars."""
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if a is None or b is None:
        return a is b
    if not isinstance(a, (np.ndarray, np.generic, float, int)):
        return True  # an opaque result (winograd_prepare's prepared weights)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def run(seed: int, calls: int, verbose: bool = False) -> list[str]:
    """Makes `calls` malformed calls; returns one line per violation."""
    import cnnnative.ops as ops

    warnings.simplefilter("ignore")  # numpy's ComplexWarning etc. on converted inputs
    rng = np.random.default_rng(seed)
    problems = []
    valid = make_calls(rng)
    missing = set(ops.__all__) - set(valid) - SETTINGS
    if missing:
        problems.append(f"ops without a malformed-call generator: {sorted(missing)}")
    names = sorted(valid)
    for i in range(calls):
        if i % 200 == 0:
            valid = make_calls(rng)  # fresh shapes now and then
        name = names[i % len(names)]
        args, kwargs = copy_args(*valid[name])
        slots = [("a", j) for j in range(len(args))] + [("k", key) for key in kwargs]
        kind, where = "none", None
        layout = None
        if slots:
            where = slots[rng.integers(len(slots))]
            value = args[where[1]] if where[0] == "a" else kwargs[where[1]]
            if isinstance(value, np.ndarray) and rng.random() < 0.3:
                layout = str(rng.choice(LAYOUT))
                kind, new = layout, relayout(value, layout)
            elif isinstance(value, np.ndarray):
                kind, new = break_array(value, rng)
            elif isinstance(value, tuple) and rng.random() < 0.5:
                j = int(rng.integers(len(value)))
                new = tuple(break_int(None, rng) if t == j else v for t, v in enumerate(value))
                kind = f"tuple[{j}]"
            else:
                kind, new = "int", break_int(value, rng)
            if where[0] == "a":
                args[where[1]] = new
            else:
                kwargs[where[1]] = new
        label = f"call {i}: {name} with {where} -> {kind}"
        if verbose:
            print(label, flush=True)
        try:
            result = getattr(ops, name)(*args, **kwargs)
        except ALLOWED:
            continue
        except Exception as e:  # noqa: BLE001 - the point is to catch the others
            problems.append(f"{label}: raised {type(e).__name__}: {e}")
            continue
        if layout is not None and name not in ("sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "scale_",
                                               "batch_norm", "batch_norm_forward"):
            a0, k0 = copy_args(*valid[name])
            expected = getattr(ops, name)(*a0, **k0)
            if not same(result, expected):
                problems.append(f"{label}: result differs from the plain call")
    return problems


def test_malformed_calls_raise_only_value_type_overflow_errors():
    """3000 seeded calls in a child process: a crash or a hang fails here, not the suite."""
    import cnnnative

    env = dict(os.environ)
    # The child imports the cnnnative this process imported (installed, or python/ in a
    # development tree): the source tree of a clean clone has no built _core.
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(cnnnative.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_dir, env.get("PYTHONPATH")]))
    timeout = 600 if "LD_PRELOAD" in env else 120  # sanitizer builds are slower
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--seed", "11", "--calls", "3000"],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"


def test_layout_variants_give_the_plain_result_for_every_op():
    """Every op, every array argument, every layout variant (strided, unaligned, read-only,
    Fortran): the same result as the plain call, or (for in-place arguments) a ValueError."""
    import cnnnative.ops as ops

    rng = np.random.default_rng(5)
    valid = make_calls(rng)
    inplace = {("sgd_step", 0), ("scale_", 0), ("batch_norm_forward", 1), ("batch_norm_forward", 2),
               ("adam_step", 0), ("adam_step", 2), ("adam_step", 3), ("rmsprop_step", 0), ("rmsprop_step", 2),
               ("adagrad_step", 0), ("adagrad_step", 2)}
    for name, (args0, kwargs0) in sorted(valid.items()):
        a0, k0 = copy_args(args0, kwargs0)
        expected = getattr(ops, name)(*a0, **k0)
        for j, value in enumerate(args0):
            if not isinstance(value, np.ndarray) or value.ndim == 0:
                continue
            for how in LAYOUT:
                args, kwargs = copy_args(args0, kwargs0)
                args[j] = relayout(value, how)
                if (name, j) in inplace:
                    if how == "readonly" or (how in ("strided", "unaligned") and value.ndim):
                        try:
                            getattr(ops, name)(*args, **kwargs)
                        except ValueError:
                            continue
                        raise AssertionError(f"{name} arg {j} {how}: an in-place array was accepted")
                    continue
                got = getattr(ops, name)(*args, **kwargs)
                assert same(got, expected), f"{name} arg {j} {how}: result differs from the plain call"


def test_unaligned_out_is_rejected():
    import cnnnative.ops as ops

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = unaligned(np.zeros((3, 4), np.float32))
    for call in (lambda: ops.relu(x, out=out), lambda: ops.gemm(x, np.eye(4, dtype=np.float32), out=out)):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("an unaligned out= was accepted")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    problems = run(a.seed, a.calls, a.verbose)
    for line in problems:
        print(line)
    print(f"{a.calls} malformed calls, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


def test_complex_arrays_are_a_type_error_for_every_op():
    """A complex input used to be cast to float32 with only a ComplexWarning (the
    imaginary part silently dropped); every kernel input now refuses it."""
    import cnnnative.ops as ops

    valid = make_calls(np.random.default_rng(3))
    accepted = []
    for name, (args0, kwargs0) in sorted(valid.items()):
        for j, value in enumerate(args0):
            if not isinstance(value, np.ndarray) or value.dtype != np.float32:
                continue
            args, kwargs = copy_args(args0, kwargs0)
            args[j] = value.astype(np.complex64) + 1j
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    getattr(ops, name)(*args, **kwargs)
            except TypeError:
                continue
            except ValueError:  # e.g. an in-place argument refused for its dtype
                continue
            accepted.append(f"{name} arg {j}")
    assert not accepted, f"complex arrays accepted: {accepted}"
