"""Numerics of the CUDA backend, on the same tests as the CPU: every op is run on each
device ("cpu" = cnnnative.ops, "cuda" = cnnnative.cuda.ops on uploaded copies) against
plain float64 numpy references written here, and GPU results are compared with the CPU's
on the same inputs. GPU cases skip with the backend's own reason when there is no GPU
(or the CPU op has not landed yet on this branch).

New GPU outputs are NaN-filled before kernels run (CNNNATIVE_CUDA_POISON, set below before
the first allocation), so an element a kernel forgets to write fails the comparison.
"""
import os

os.environ.setdefault("CNNNATIVE_CUDA_POISON", "1")  # read once by _cuda, at its first allocation
os.environ.setdefault("CNNNATIVE_CUDA_SYNC", "1")    # errors name the failing kernel

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnnnative  # noqa: E402
import cnnnative.cuda as cc  # noqa: E402
from cnnnative import ops  # noqa: E402
from ref_conv import conv2d_input_ref, conv2d_ref, conv2d_weight_ref  # noqa: E402

GPU_REASON = cc.why_unavailable() or "available"
needs_gpu = pytest.mark.skipif(not cc.is_available(), reason=f"no usable CUDA GPU: {GPU_REASON}")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=needs_gpu)])
def device(request):
    return request.param


def _up(a):
    return cc.from_numpy(a) if isinstance(a, np.ndarray) else a


def _down(o):
    if isinstance(o, tuple):
        return tuple(_down(v) for v in o)
    if isinstance(o, list):
        return [_down(v) for v in o]
    return o.numpy() if cc.is_tensor(o) else o


def call(device, name, *args, **kwargs):
    """Run op `name` on `device` with numpy inputs; numpy (or Python) results."""
    if device == "cpu":
        fn = getattr(ops, name, None)
        if not callable(fn):
            pytest.skip(f"cnnnative.ops.{name} has not landed on this branch")
        return fn(*args, **kwargs)
    fn = getattr(cc.ops, name)
    return _down(fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()}))


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(actual, expected, terms=1, what=""):
    # float32 sums of `terms` products of O(1) values: error grows ~ sqrt(terms) * eps32.
    tol = 2e-5 * max(1.0, np.sqrt(terms)) * 4
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol, err_msg=what)


def numgrad(f, x, dy, h=1e-6):
    """d sum(f(x) * dy) / dx by central differences in float64."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = np.sum(f(x) * dy)
        x[i] = old - h
        dn = np.sum(f(x) * dy)
        x[i] = old
        g[i] = (up - dn) / (2 * h)
    return g


# --- convolution ---------------------------------------------------------------------------
# (N, C, H, W, K, R, S, stride, pad(t, b, l, r), dilation, groups): tile-edge channel counts
# (63, 64, 65 around the 64-wide tile), primes, groups, depthwise, asymmetric padding,
# kernel equal to the padded input, batch 1 and > 1.
CONV_CASES = [
    (1, 1, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), 1, 1),
    (2, 3, 7, 5, 5, 3, 3, 1, (1, 1, 1, 1), 1, 1),
    (3, 5, 11, 13, 65, 3, 3, 2, (1, 0, 2, 1), 1, 1),
    (1, 17, 9, 9, 64, 1, 1, 1, (0, 0, 0, 0), 1, 1),
    (2, 4, 10, 10, 63, 3, 3, 1, (2, 2, 2, 2), 2, 1),
    (2, 6, 8, 9, 4, 3, 2, (2, 1), (1, 1, 0, 1), (1, 2), 2),
    (2, 8, 9, 7, 8, 3, 3, 1, (1, 1, 1, 1), 1, 8),
    (1, 6, 7, 7, 12, 5, 5, 2, (2, 2, 2, 2), 1, 6),
    (2, 5, 8, 11, 5, 3, 3, (2, 1), (0, 2, 1, 0), (2, 1), 5),
    (1, 2, 3, 3, 3, 5, 5, 1, (1, 1, 1, 1), 1, 1),
]


def _geom(case):
    N, C, H, W, K, R, S, stride, pad, dil, groups = case
    st = stride if isinstance(stride, tuple) else (stride, stride)
    dl = dil if isinstance(dil, tuple) else (dil, dil)
    return (N, C, H, W), (K, C // groups, R, S), st, pad, dl, groups


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_and_gradients(device, rng, case):
    xs, ws, st, pad, dl, groups = _geom(case)
    x, w, b = f32(rng, *xs), f32(rng, *ws), f32(rng, ws[0])
    terms = ws[1] * ws[2] * ws[3]
    y = call(device, "conv2d", x, w, b, stride=st, padding=pad, dilation=dl, groups=groups)
    close(y, conv2d_ref(x, w, b, st, pad, dl, groups), terms, "conv2d")
    dy = f32(rng, *y.shape)
    dx = call(device, "conv2d_input", xs, w, dy, stride=st, padding=pad, dilation=dl, groups=groups)
    close(dx, conv2d_input_ref(xs, w, dy, st, pad, dl, groups), ws[0] * ws[2] * ws[3], "conv2d_input")
    dw = call(device, "conv2d_weight", x, ws, dy, stride=st, padding=pad, dilation=dl, groups=groups)
    close(dw, conv2d_weight_ref(x, ws, dy, st, pad, dl, groups), y.shape[0] * y.shape[2] * y.shape[3],
          "conv2d_weight")
    db = call(device, "conv2d_bias", dy)
    close(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), dy.size // dy.shape[1], "conv2d_bias")


@needs_gpu
def test_conv2d_weight_gradient_split_k_long_sum(rng):
    # A long reduction (batch * OH * OW = 8 * 32 * 32) takes the split-K path with atomics.
    x, dy = f32(rng, 8, 3, 32, 32), f32(rng, 8, 4, 32, 32)
    dw = cc.ops.conv2d_weight(cc.from_numpy(x), (4, 3, 3, 3), cc.from_numpy(dy), padding=1).numpy()
    close(dw, conv2d_weight_ref(x, (4, 3, 3, 3), dy, (1, 1), (1, 1, 1, 1)), 8 * 32 * 32)


@needs_gpu
@pytest.mark.parametrize("algo", ["implicit_gemm", "depthwise"])
def test_conv2d_algorithms_agree_on_depthwise(rng, algo):
    x, w, b = f32(rng, 2, 7, 10, 9), f32(rng, 14, 1, 3, 3), f32(rng, 14)
    y = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), cc.from_numpy(b), stride=2, padding=1, groups=7,
                      algo=algo).numpy()
    close(y, conv2d_ref(x, w, b, (2, 2), (1, 1, 1, 1), (1, 1), 7), 9)


# Winograd rounds more than direct summation: the transforms scale values by up to ~10
# (F(4x4): entries 8 and 1/24 in A, G), so allow a larger multiple of the direct tolerance.
WINOGRAD_SLACK = {"winograd_f2x3": 4, "winograd_f4x3": 40}


@needs_gpu
@pytest.mark.parametrize("algo", sorted(WINOGRAD_SLACK))
@pytest.mark.parametrize("N,C,H,W,K,pad", [(1, 1, 3, 3, 1, (0, 0, 0, 0)), (2, 3, 7, 5, 5, (1, 1, 1, 1)),
                                           (1, 8, 9, 10, 65, (1, 0, 2, 1)), (3, 17, 6, 13, 4, (2, 2, 0, 0))])
def test_conv2d_winograd(rng, algo, N, C, H, W, K, pad):
    x, w, b = f32(rng, N, C, H, W), f32(rng, K, C, 3, 3), f32(rng, K)
    y = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), cc.from_numpy(b), padding=pad, algo=algo).numpy()
    close(y, conv2d_ref(x, w, b, (1, 1), pad), 9 * C * WINOGRAD_SLACK[algo] ** 2, algo)


@needs_gpu
def test_conv2d_auto_picks_winograd_for_wide_3x3(rng):
    table = cc.ops.conv_algorithms((1, 64, 6, 6), (64, 64, 3, 3), padding=1)
    assert table["auto"] == "winograd_f4x3" and table["winograd_f4x3"]["supported"]
    assert not cc.ops.conv_algorithms((1, 64, 6, 6), (64, 64, 3, 3), stride=2)["winograd_f2x3"]["supported"]
    x, w = f32(rng, 1, 64, 6, 6), f32(rng, 64, 64, 3, 3)
    y = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), padding=1).numpy()
    close(y, conv2d_ref(x, w, None, (1, 1), (1, 1, 1, 1)), 9 * 64 * 40 ** 2)
    with pytest.raises(ValueError, match="3x3"):
        cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), stride=2, algo="winograd_f4x3")


@needs_gpu
def test_conv2d_gpu_matches_cpu(rng):
    x, w = f32(rng, 2, 16, 15, 15), f32(rng, 32, 16, 3, 3)
    gpu = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), padding=1).numpy()
    close(gpu, ops.conv2d(x, w, padding=1).astype(np.float64), 16 * 9)


@needs_gpu
def test_conv2d_empty_batch_and_bad_input(rng):
    w = cc.from_numpy(f32(rng, 4, 3, 3, 3))
    y = cc.ops.conv2d(cc.zeros((0, 3, 8, 8)), w, padding=1)
    assert y.shape == (0, 4, 8, 8)
    with pytest.raises(ValueError, match="4-D"):
        cc.ops.conv2d(cc.zeros((3, 8, 8)), w)
    with pytest.raises(ValueError, match="channels"):
        cc.ops.conv2d(cc.zeros((1, 5, 8, 8)), w)
    with pytest.raises(TypeError, match="float32"):
        cc.ops.conv2d(cc.zeros((1, 3, 8, 8), dtype="int64"), w)
    with pytest.raises(TypeError, match="cnnnative.cuda.Tensor"):
        cc.ops.conv2d(np.zeros((1, 3, 8, 8), np.float32), w)
    with pytest.raises(ValueError):
        cc.ops.conv2d(cc.zeros((1, 3, 8, 8)), w, stride=0)
    with pytest.raises(OverflowError):
        cc.ops.conv2d_input((2 ** 40, 3, 2 ** 20, 2 ** 20), w, cc.zeros((1, 4, 6, 6)))


# --- GEMM and linear -------------------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (63, 64, 65), (64, 17, 16), (131, 5, 97), (3, 200, 4)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm(rng, M, N, K, ta, tb):
    a = f32(rng, *((K, M) if ta else (M, K)))
    b = f32(rng, *((N, K) if tb else (K, N)))
    c0, bias = f32(rng, M, N), f32(rng, N)
    ref = 0.5 * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b)) + 2.0 * c0 + bias
    out = cc.from_numpy(c0)
    got = cc.ops.gemm(cc.from_numpy(a), cc.from_numpy(b), trans_a=ta, trans_b=tb, alpha=0.5, beta=2.0, out=out,
                      col_bias=cc.from_numpy(bias))
    close(got.numpy(), ref, K)
    assert got.data_ptr == out.data_ptr


@needs_gpu
@pytest.mark.parametrize("activation,lo,hi", [("relu", 0, np.inf), ("relu6", 0, 6)])
def test_gemm_row_bias_and_activation(rng, activation, lo, hi):
    a, b, rb = f32(rng, 9, 13) * 3, f32(rng, 13, 7) * 3, f32(rng, 9)
    got = cc.ops.gemm(cc.from_numpy(a), cc.from_numpy(b), row_bias=cc.from_numpy(rb), activation=activation)
    close(got.numpy(), np.clip(a.astype(np.float64) @ b + rb[:, None], lo, hi), 13)


@needs_gpu
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_gemm_tf32_tensor_cores(rng, ta, tb):
    M, N, K = 37, 70, 29
    a = f32(rng, *((K, M) if ta else (M, K)))
    b = f32(rng, *((N, K) if tb else (K, N)))
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
    assert not cc.ops.get_allow_tf32()  # off by default
    got = cc.ops.gemm(cc.from_numpy(a), cc.from_numpy(b), trans_a=ta, trans_b=tb, allow_tf32=True).numpy()
    # TF32 keeps 10 mantissa bits: relative rounding 2^-11 per input, ~sqrt(K) growth.
    np.testing.assert_allclose(got, ref, rtol=0, atol=2 * 2.0 ** -10 * np.sqrt(K) * np.abs(ref).max())


def test_linear_and_backward(device, rng):
    x, w, b, = f32(rng, 5, 33), f32(rng, 7, 33), f32(rng, 7)
    y = call(device, "linear", x, w, b)
    close(y, x.astype(np.float64) @ w.T + b, 33)
    dy = f32(rng, 5, 7)
    gi, gw, gb = call(device, "linear_backward", dy, x, w, need_bias=True)
    close(gi, dy.astype(np.float64) @ w, 7)
    close(gw, dy.astype(np.float64).T @ x, 5)
    close(gb, dy.astype(np.float64).sum(0), 5)


# --- pooling ---------------------------------------------------------------------------------

def max_pool_ref(x, k, s, p, d, ceil_mode):
    N, C, H, W = x.shape

    def out(n, kk, ss, pp, dd):
        num = n + 2 * pp - dd * (kk - 1) - 1
        o = (-(-num // ss) if ceil_mode else num // ss) + 1
        if ceil_mode and (o - 1) * ss >= n + pp:
            o -= 1
        return o
    OH, OW = out(H, k[0], s[0], p[0], d[0]), out(W, k[1], s[1], p[1], d[1])
    y = np.full((N, C, OH, OW), -np.inf)
    idx = np.zeros((N, C, OH, OW), np.int64)
    for oh in range(OH):
        for ow in range(OW):
            best = None
            for r in range(k[0]):
                for q in range(k[1]):
                    ih, iw = oh * s[0] - p[0] + r * d[0], ow * s[1] - p[1] + q * d[1]
                    if 0 <= ih < H and 0 <= iw < W:
                        v = x[:, :, ih, iw]
                        if best is None:
                            best = v.copy()
                            idx[:, :, oh, ow] = ih * W + iw
                        else:
                            take = v > best
                            best = np.where(take, v, best)
                            idx[:, :, oh, ow] = np.where(take, ih * W + iw, idx[:, :, oh, ow])
            y[:, :, oh, ow] = best
    return y, idx


@pytest.mark.parametrize("k,s,p,d,ceil_mode", [((2, 2), (2, 2), (0, 0), (1, 1), False),
                                               ((3, 3), (2, 2), (1, 1), (1, 1), True),
                                               ((3, 2), (1, 2), (1, 0), (2, 1), False),
                                               ((1, 1), (1, 1), (0, 0), (1, 1), False)])
def test_max_pool(device, rng, k, s, p, d, ceil_mode):
    x = f32(rng, 2, 3, 9, 8)
    y, idx = call(device, "max_pool2d", x, k, s, p, d, ceil_mode, True)
    ry, ridx = max_pool_ref(x.astype(np.float64), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y, ry.astype(np.float32))
    np.testing.assert_array_equal(idx, ridx)
    dy = f32(rng, *y.shape)
    dx = call(device, "max_pool2d_backward", dy, idx, x.shape)
    ref = np.zeros(x.shape)
    flat = ref.reshape(2, 3, -1)
    for n in range(2):
        for c in range(3):
            np.add.at(flat[n, c], ridx[n, c].ravel(), dy[n, c].ravel())
    close(dx, ref, 9)


@needs_gpu
def test_max_pool_backward_rejects_bad_indices(rng):
    dy = cc.from_numpy(f32(rng, 1, 1, 2, 2))
    bad = cc.from_numpy(np.array([[[[0, 1], [2, 99]]]], np.int64))
    with pytest.raises(ValueError, match="outside"):
        cc.ops.max_pool2d_backward(dy, bad, (1, 1, 4, 4))


def avg_pool_ref(x, k, s, p, ceil_mode, cip):
    N, C, H, W = x.shape

    def out(n, kk, ss, pp):
        num = n + 2 * pp - kk
        o = (-(-num // ss) if ceil_mode else num // ss) + 1
        if ceil_mode and (o - 1) * ss >= n + pp:
            o -= 1
        return o
    OH, OW = out(H, k[0], s[0], p[0]), out(W, k[1], s[1], p[1])
    y = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            padded = (h1 - h0) * (w1 - w0)
            a0, b0, a1, b1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            total = x[:, :, a0:a1, b0:b1].sum(axis=(2, 3))
            y[:, :, oh, ow] = total / (padded if cip else (a1 - a0) * (b1 - b0))
    return y


@pytest.mark.parametrize("k,s,p,ceil_mode,cip", [((2, 2), (2, 2), (0, 0), False, True),
                                                 ((3, 3), (2, 2), (1, 1), True, True),
                                                 ((3, 3), (2, 2), (1, 1), True, False),
                                                 ((3, 2), (1, 2), (1, 1), False, False)])
def test_avg_pool(device, rng, k, s, p, ceil_mode, cip):
    x = f32(rng, 2, 3, 9, 8)
    y = call(device, "avg_pool2d", x, k, s, p, ceil_mode, cip)
    close(y, avg_pool_ref(x.astype(np.float64), k, s, p, ceil_mode, cip), 9)
    dy = f32(rng, *y.shape)
    dx = call(device, "avg_pool2d_backward", dy, x.shape, k, s, p, ceil_mode, cip)
    close(dx, numgrad(lambda v: avg_pool_ref(v, k, s, p, ceil_mode, cip), x, dy), 9)
    assert np.abs(dx).sum() > 0


def test_global_avg_pool(device, rng):
    x = f32(rng, 3, 5, 7, 6)
    close(call(device, "global_avg_pool2d", x), x.astype(np.float64).mean(axis=(2, 3), keepdims=True), 42)
    dy = f32(rng, 3, 5, 1, 1)
    close(call(device, "global_avg_pool2d_backward", dy, x.shape), np.broadcast_to(dy / 42.0, x.shape), 1)


# --- activations, softmax, loss, dropout --------------------------------------------------------

ACTS = {
    "relu": (lambda v: np.maximum(v, 0), lambda g, y, x: g * (y > 0), "output"),
    "relu6": (lambda v: np.clip(v, 0, 6), lambda g, y, x: g * ((y > 0) & (y < 6)), "output"),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), lambda g, y, x: g * y * (1 - y), "output"),
    "tanh": (np.tanh, lambda g, y, x: g * (1 - y * y), "output"),
    "leaky_relu": (lambda v: np.where(v > 0, v, 0.01 * v), lambda g, y, x: np.where(x > 0, g, 0.01 * g), "input"),
}


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activations(device, rng, name):
    fwd, bwd, saved = ACTS[name]
    x = f32(rng, 3, 5, 7) * 4
    y = call(device, name, x)
    close(y, fwd(x.astype(np.float64)))
    g = f32(rng, *x.shape)
    dx = call(device, name + "_backward", g, y if saved == "output" else x)
    close(dx, bwd(g.astype(np.float64), y.astype(np.float64), x.astype(np.float64)))


def test_add_and_add_relu(device, rng):
    a, b = f32(rng, 4, 9), f32(rng, 4, 9)
    close(call(device, "add", a, b), a.astype(np.float64) + b)
    close(call(device, "add_relu", a, b), np.maximum(a.astype(np.float64) + b, 0))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(device, rng, dim, log):
    x = f32(rng, 4, 6, 5) * 3
    name = "log_softmax" if log else "softmax"
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis=dim, keepdims=True))
    ref = e / e.sum(axis=dim, keepdims=True)
    ref = np.log(ref) if log else ref
    y = call(device, name, x, dim)
    close(y, ref, 6)
    g = f32(rng, *x.shape)
    dx = call(device, name + "_backward", g, y, dim)

    def f(v):
        ee = np.exp(v - v.max(axis=dim, keepdims=True))
        s = ee / ee.sum(axis=dim, keepdims=True)
        return np.log(s) if log else s
    close(dx, numgrad(f, x, g), 6)


def test_cross_entropy(device, rng):
    logits, target = f32(rng, 6, 11) * 2, rng.integers(0, 11, 6).astype(np.int64)
    xd = logits.astype(np.float64)
    lse = np.log(np.exp(xd - xd.max(1, keepdims=True)).sum(1)) + xd.max(1)
    per = lse - xd[np.arange(6), target]
    assert abs(call(device, "cross_entropy", logits, target) - per.mean()) < 1e-5
    assert abs(call(device, "cross_entropy", logits, target, reduction="sum") - per.sum()) < 1e-4
    grad = call(device, "cross_entropy_backward", logits, target)
    onehot = np.eye(11)[target]
    close(grad, (np.exp(xd - lse[:, None]) - onehot) / 6, 11)


@needs_gpu
def test_cross_entropy_rejects_bad_labels(rng):
    with pytest.raises(ValueError, match="outside"):
        cc.ops.cross_entropy(cc.from_numpy(f32(rng, 2, 3)), cc.from_numpy(np.array([0, 3], np.int64)))


@needs_gpu
def test_dropout_same_mask_as_cpu(rng):
    x = f32(rng, 3, 1000)
    y, mask = cc.ops.dropout(cc.from_numpy(x), 0.3, seed=1234, return_mask=True)
    cy, cmask = ops.dropout(x, 0.3, seed=1234, return_mask=True)
    np.testing.assert_array_equal(mask.numpy(), cmask)
    np.testing.assert_array_equal(y.numpy(), cy)
    assert 0.25 < 1 - cmask.mean() < 0.35
    g = f32(rng, *x.shape)
    dx = cc.ops.dropout_backward(cc.from_numpy(g), mask, 0.3).numpy()
    np.testing.assert_array_equal(dx, ops.dropout_backward(g, cmask, 0.3))


# --- normalisation ---------------------------------------------------------------------------

def bn_ref(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.mean(axis=axes, keepdims=True)
    v = x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w.reshape(shape) + b.reshape(shape)


def test_batch_norm_train(device, rng):
    x, w, b = f32(rng, 3, 5, 4, 3) * 2 + 1, f32(rng, 5), f32(rng, 5)
    rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
    if device == "cpu":
        y, mean, invstd = call(device, "batch_norm_forward", x, rm, rv, w, b, training=True, momentum=0.1)
        rm_after, rv_after = rm, rv
    else:
        trm, trv = cc.from_numpy(rm), cc.from_numpy(rv)
        y, mean, invstd = _down(cc.ops.batch_norm_forward(cc.from_numpy(x), trm, trv, cc.from_numpy(w),
                                                          cc.from_numpy(b), training=True, momentum=0.1))
        rm_after, rv_after = trm.numpy(), trv.numpy()
    xd = x.astype(np.float64)
    close(y, bn_ref(xd, w.astype(np.float64), b), 36)
    close(rm_after, 0.1 * xd.mean(axis=(0, 2, 3)), 36)
    close(rv_after, 0.9 + 0.1 * xd.var(axis=(0, 2, 3), ddof=1), 36)
    dy = f32(rng, *x.shape)
    gi, gw, gb = call(device, "batch_norm_backward", dy, x, w, mean, invstd, training=True)
    close(gi, numgrad(lambda v: bn_ref(v, w.astype(np.float64), b), xd, dy), 36)
    close(gw, (dy * (xd - xd.mean(axis=(0, 2, 3), keepdims=True)) /
               np.sqrt(xd.var(axis=(0, 2, 3), keepdims=True) + 1e-5)).sum(axis=(0, 2, 3)), 36)
    close(gb, dy.astype(np.float64).sum(axis=(0, 2, 3)), 36)
    assert np.abs(gi).sum() > 0


def test_batch_norm_eval(device, rng):
    x, w, b = f32(rng, 2, 4, 3, 3), f32(rng, 4), f32(rng, 4)
    rm, rv = f32(rng, 4), np.abs(f32(rng, 4)) + 0.5
    y, mean, invstd = call(device, "batch_norm_forward", x, rm, rv, w, b, training=False)
    shape = (1, -1, 1, 1)
    ref = (x.astype(np.float64) - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + 1e-5) * w.reshape(shape) \
        + b.reshape(shape)
    close(y, ref)
    dy = f32(rng, *x.shape)
    gi, _, _ = call(device, "batch_norm_backward", dy, x, w, mean, invstd, training=False)
    close(gi, dy * (w / np.sqrt(rv.astype(np.float64) + 1e-5)).reshape(shape))


def gn_ref(x, G, w, b, eps=1e-5):
    N, C = x.shape[:2]
    xg = x.reshape(N, G, -1)
    m, v = xg.mean(-1, keepdims=True), xg.var(-1, keepdims=True)
    shape = (1, C) + (1,) * (x.ndim - 2)
    return ((xg - m) / np.sqrt(v + eps)).reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("G", [1, 2, 6])
def test_group_norm(device, rng, G):
    x, w, b = f32(rng, 2, 6, 3, 4), f32(rng, 6), f32(rng, 6)
    xd, wd, bd = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    y, mean, rstd = call(device, "group_norm_forward", x, G, w, b, 1e-5)
    close(y, gn_ref(xd, G, wd, bd), 72)
    dy = f32(rng, *x.shape)
    gi, gw, gb = call(device, "group_norm_backward", dy, x, G, mean, rstd, w)
    close(gi, numgrad(lambda v: gn_ref(v, G, wd, bd), xd, dy), 72)
    close(gw, numgrad(lambda v: gn_ref(xd, G, v, bd), wd, dy), 72)
    close(gb, numgrad(lambda v: gn_ref(xd, G, wd, v), bd, dy), 72)
    assert np.abs(gw).sum() > 0


def test_instance_norm(device, rng):
    x, w, b = f32(rng, 2, 3, 4, 5), f32(rng, 3), f32(rng, 3)
    xd = x.astype(np.float64)
    y, mean, rstd = call(device, "instance_norm_forward", x, None, None, w, b)
    close(y, gn_ref(xd, 3, w.astype(np.float64), b), 20)
    dy = f32(rng, *x.shape)
    gi, gw, gb = call(device, "instance_norm_backward", dy, x, mean, rstd, w)
    close(gi, numgrad(lambda v: gn_ref(v, 3, w.astype(np.float64), b), xd, dy), 20)


def ln_ref(x, n, w, b, eps=1e-5):
    rows = x.reshape(-1, n)
    out = (rows - rows.mean(-1, keepdims=True)) / np.sqrt(rows.var(-1, keepdims=True) + eps)
    return (out * w.reshape(-1) + b.reshape(-1)).reshape(x.shape)


def test_layer_norm(device, rng):
    x, w, b = f32(rng, 3, 4, 5), f32(rng, 4, 5), f32(rng, 4, 5)
    xd, wd, bd = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    y, mean, rstd = call(device, "layer_norm_forward", x, (4, 5), w, b, 1e-5)
    close(y, ln_ref(xd, 20, wd, bd), 20)
    dy = f32(rng, *x.shape)
    gi, gw, gb = call(device, "layer_norm_backward", dy, x, (4, 5), mean, rstd, w)
    close(gi, numgrad(lambda v: ln_ref(v, 20, wd, bd), xd, dy), 20)
    close(gw, numgrad(lambda v: ln_ref(xd, 20, v, bd), wd, dy), 20)
    close(gb, dy.astype(np.float64).sum(0), 20)


def lrn_ref(x, size, alpha, beta, k):
    C = x.shape[1]
    sq = x * x
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        out[:, c] = x[:, c] / (k + alpha / size * sq[:, lo:hi + 1].sum(1)) ** beta
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm(device, rng, size):
    x = f32(rng, 2, 7, 3, 2)
    xd = x.astype(np.float64)
    y = call(device, "local_response_norm", x, size, 0.5, 0.75, 1.0)
    close(y, lrn_ref(xd, size, 0.5, 0.75, 1.0), size)
    dy = f32(rng, *x.shape)
    dx = call(device, "local_response_norm_backward", dy, x, size, 0.5, 0.75, 1.0)
    close(dx, numgrad(lambda v: lrn_ref(v, size, 0.5, 0.75, 1.0), xd, dy), size)


# --- optimiser -------------------------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("momentum,dampening,wd,nesterov", [(0.0, 0.0, 0.0, False), (0.9, 0.0, 1e-2, True),
                                                            (0.9, 0.1, 0.0, False)])
def test_sgd_step(rng, momentum, dampening, wd, nesterov):
    p, g, buf = f32(rng, 1001), f32(rng, 1001), f32(rng, 1001)
    tp, tb = cc.from_numpy(p), cc.from_numpy(buf)
    for first in (True, False):
        cc.ops.sgd_step(tp, cc.from_numpy(g), tb if momentum else None, lr=0.1, momentum=momentum,
                        dampening=dampening, weight_decay=wd, nesterov=nesterov, first_step=first)
        d = g.astype(np.float64) + wd * p
        if momentum:
            buf = d if first else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - 0.1 * d
    close(tp.numpy(), p)
    close(cc.ops.sum_of_squares(tp), float((p ** 2).sum()), 1001)
    cc.ops.scale_(tp, 0.5)
    close(tp.numpy(), 0.5 * p)


# --- tensors, allocator, interop --------------------------------------------------------------

@needs_gpu
def test_tensor_roundtrip_reshape_and_dtypes(rng):
    for a in (f32(rng, 2, 3), np.arange(5, dtype=np.int64), np.arange(4, dtype=np.uint8),
              np.zeros((0, 3), np.float32), np.asfortranarray(f32(rng, 3, 4))):
        t = cc.from_numpy(a)
        assert t.shape == a.shape and t.dtype == a.dtype.name
        np.testing.assert_array_equal(t.numpy(), a)
    t = cc.from_numpy(np.arange(12, dtype=np.float32))
    v = t.reshape(3, -1)
    assert v.shape == (3, 4) and v.data_ptr == t.data_ptr
    assert t.reshape((np.int64(6), 2)).shape == (6, 2) and t.reshape([12]).shape == (12,)
    with pytest.raises(ValueError):
        t.reshape(5, -1)
    with pytest.raises(TypeError):
        t.reshape(2.5, -1)
    with pytest.raises(TypeError):
        cc.from_numpy(np.zeros(3, np.complex64))


@needs_gpu
def test_more_than_2_31_elements():
    # int64 indexing: every element past 2^31 must be reached (8.6 GB per tensor).
    n = 2 ** 31 + 3
    if cc._cuda.mem_get_info()[0] < 3 * 4 * n:
        pytest.skip("needs ~26 GB of free GPU memory")
    t = cc.empty((n,))
    cc._cuda.fill_(t, -2.0)
    assert cc.ops.sum_of_squares(t) == 4.0 * n
    y = cc.ops.relu(t)  # poisoned with NaN first: an unwritten element would show
    assert cc.ops.sum_of_squares(y) == 0.0
    del y
    y = cc.ops.add(t, t)
    assert cc.ops.sum_of_squares(y) == 16.0 * n
    del t, y
    cc.empty_cache()


@needs_gpu
def test_allocator_reuses_blocks():
    cc.empty_cache()
    a = cc.empty((1024, 1024))
    before = cc.memory_stats()
    del a
    for _ in range(5):
        b = cc.empty((1024, 1024))
        del b
    after = cc.memory_stats()
    assert after["device_mallocs"] == before["device_mallocs"]
    assert after["in_use_bytes"] <= before["in_use_bytes"] - 4 * 1024 * 1024


@needs_gpu
def test_cuda_array_interface_and_dlpack_zero_copy(rng):
    x = f32(rng, 4, 5)
    t = cc.from_numpy(x)
    cai = t.__cuda_array_interface__
    assert cai["shape"] == (4, 5) and cai["typestr"] == "<f4" and cai["data"][0] == t.data_ptr

    class Foreign:  # exposes only the interface, as Numba/CuPy arrays do
        def __init__(self, iface):
            self.__cuda_array_interface__ = iface
    shared = cc.from_dlpack(Foreign(cai))
    assert shared.data_ptr == t.data_ptr
    capsule = t.__dlpack__()
    assert t.__dlpack_device__() == (2, 0)
    back = cc.from_dlpack(capsule)
    assert back.data_ptr == t.data_ptr
    del t, shared
    np.testing.assert_array_equal(back.numpy(), x)  # the capsule kept the memory alive


@needs_gpu
def test_torch_interop_if_torch_has_cuda(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    tt = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    t = cc.from_dlpack(tt)
    assert t.data_ptr == tt.data_ptr()
    np.testing.assert_array_equal(t.numpy(), tt.cpu().numpy())
    back = torch.from_dlpack(cc.ops.relu(t))
    assert back.device.type == "cuda"
    torch.testing.assert_close(back, torch.relu(tt))
    x, w = f32(rng, 2, 3, 8, 8), f32(rng, 4, 3, 3, 3)
    ours = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), padding=1).numpy()
    with torch.backends.cudnn.flags(allow_tf32=False):
        theirs = torch.nn.functional.conv2d(torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda(), padding=1)
    close(ours, theirs.cpu().numpy().astype(np.float64), 27)


# --- end to end: layers, optimizer and Trainer on the GPU against the CPU --------------------

@needs_gpu
def test_ops_dispatch_on_device(rng):
    x = f32(rng, 2, 3, 5, 5)
    w = f32(rng, 4, 3, 3, 3)
    y = ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), padding=1)
    assert cc.is_tensor(y)
    close(y.numpy(), conv2d_ref(x, w, None, (1, 1), (1, 1, 1, 1)), 27)


@needs_gpu
def test_trainer_on_gpu_matches_cpu():
    import cnnnative
    from cnnnative import models, nn, optim
    from cnnnative.train import Trainer
    data = cnnnative.data.load_dataset("digits", "train", None, False)
    x, y = data.normalize(data.images[:64]), data.labels[:64]
    histories = []
    for device in ("cpu", "cuda"):
        nn.init.manual_seed(0)
        model = models.build("digits_net")
        model.to(device)
        trainer = Trainer(model, optim.SGD(model, lr=0.05, momentum=0.9), seed=0, quiet=True)
        losses = [trainer.step(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
        model.to("cpu")
        histories.append((losses, [p.data.copy() for p in model.parameters()]))
    np.testing.assert_allclose(histories[0][0], histories[1][0], rtol=1e-3, atol=1e-4)
    for a, b in zip(histories[0][1], histories[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@needs_gpu
def test_state_dict_roundtrip_on_gpu():
    from cnnnative import models, nn
    nn.init.manual_seed(1)
    model = models.build("digits_net")
    host = model.state_dict()
    model.to("cuda")
    on_gpu = model.state_dict()  # host copies of device memory
    for k in host:
        np.testing.assert_array_equal(on_gpu[k], host[k])
    model.load_state_dict({k: np.zeros_like(v) for k, v in host.items()})
    assert all(not np.any(v) for v in model.state_dict().values())
    assert model.device == "cuda"


@needs_gpu
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_and_narrow(rng, axis):
    parts = [f32(rng, 2, 3, 4), f32(rng, 2, 3, 4)]
    parts[1] = np.concatenate([parts[1], parts[1]], axis=axis)  # a different extent on `axis`
    got = cc.ops.concat([cc.from_numpy(p) for p in parts], axis=axis).numpy()
    np.testing.assert_array_equal(got, np.concatenate(parts, axis=axis))
    whole = cc.from_numpy(got)
    n = got.shape[axis]
    np.testing.assert_array_equal(cc.ops.narrow(whole, axis, 1, n - 2).numpy(),
                                  np.take(got, range(1, n - 1), axis=axis))
    with pytest.raises(ValueError, match="outside"):
        cc.ops.narrow(whole, axis, 1, n)


@needs_gpu
def test_graph_with_concat_on_gpu_matches_cpu(rng):
    from cnnnative import nn
    x = f32(rng, 2, 2, 5, 4)
    r = f32(rng, 2, 3, 5, 4)
    results = []
    for device in ("cpu", "cuda"):
        nn.init.manual_seed(3)
        g = nn.Graph()
        inp = g.input((2, 5, 4))
        a = g.add_node(nn.Conv2d(2, 3, 3, padding=1), inp, name="a")
        b = g.add_node(nn.ReLU(), a, name="b")
        c = g.add_node(nn.Conv2d(3, 3, 1), b, name="c")
        f = g.concat([c, b], name="f")
        h = g.add_node(nn.Conv2d(6, 3, 3, padding=1), f, name="h")
        g.output(g.add(h, c, name="out"))
        g.train()
        g.to(device)
        xin = cnnnative.Tensor(cc.from_numpy(x) if device == "cuda" else x, requires_grad=True)
        y = g(xin)
        y.backward(cc.from_numpy(r) if device == "cuda" else r)
        g.to("cpu")
        results.append((_down(y.data), _down(xin.grad), [p.grad for p in g.parameters()]))
    (y0, gx0, p0), (y1, gx1, p1) = results
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-4, atol=1e-4)
    for a, b in zip(p0, p1):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


# --- review additions: paths the tests above did not reach -------------------------------------

@needs_gpu
@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu"])
def test_relu_family_out_and_in_place(rng, name):
    # The layers call ops.relu(x, out=...) (out=None, or the input itself when inplace=True).
    fwd, bwd, saved = ACTS[name]
    x = f32(rng, 3, 70) * 4
    t = cc.from_numpy(x)
    y = getattr(cc.ops, name)(t, out=None)
    close(y.numpy(), fwd(x.astype(np.float64)))
    same = getattr(cc.ops, name)(t, out=t)  # in place
    assert same.data_ptr == t.data_ptr
    close(t.numpy(), fwd(x.astype(np.float64)))
    g = f32(rng, *x.shape)
    tg = cc.from_numpy(g)
    keep = y if saved == "output" else cc.from_numpy(x)
    dx = getattr(cc.ops, name + "_backward")(tg, keep, out=tg)
    assert dx.data_ptr == tg.data_ptr
    close(tg.numpy(), bwd(g.astype(np.float64), y.numpy().astype(np.float64), x.astype(np.float64)))
    with pytest.raises(ValueError, match="out"):
        getattr(cc.ops, name)(t, out=cc.zeros((3, 71)))


@needs_gpu
def test_inplace_relu_layers_on_gpu_match_cpu(rng):
    from cnnnative import nn
    x, r = f32(rng, 2, 3, 6, 6), f32(rng, 2, 4, 3, 3)
    results = []
    for device in ("cpu", "cuda"):
        nn.init.manual_seed(5)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                              nn.LeakyReLU(0.1, inplace=True), nn.ReLU6(inplace=True))
        model.train()
        model.to(device)
        xin = cnnnative.Tensor(cc.from_numpy(x) if device == "cuda" else x.copy(), requires_grad=True)
        y = model(xin)
        y.backward(cc.from_numpy(r) if device == "cuda" else r.copy())
        model.to("cpu")
        results.append((_down(y.data), _down(xin.grad), [p.grad.copy() for p in model.parameters()]))
    (y0, g0, p0), (y1, g1, p1) = results
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g1, g0, rtol=1e-4, atol=1e-4)
    for a, b in zip(p0, p1):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    assert np.abs(g1).sum() > 0


@needs_gpu
def test_max_pool_backward_into_out(rng):
    x = f32(rng, 2, 3, 6, 5)
    y, idx = cc.ops.max_pool2d(cc.from_numpy(x), 2, return_indices=True)
    dy = cc.from_numpy(f32(rng, *y.shape))
    out = cc.from_numpy(np.full(x.shape, 7.0, np.float32))  # stale contents must be overwritten
    got = cc.ops.max_pool2d_backward(dy, idx, x.shape, out=out)
    assert got.data_ptr == out.data_ptr
    np.testing.assert_array_equal(out.numpy(), cc.ops.max_pool2d_backward(dy, idx, x.shape).numpy())
    with pytest.raises(ValueError, match="share memory"):
        cc.ops.max_pool2d_backward(dy, idx, (2, 3, 3, 2), out=dy.reshape(2, 3, 3, 2))


@needs_gpu
def test_gemm_more_row_tiles_than_grid_y_holds(rng):
    # gridDim.y <= 65535: M above 65535 * 64 rows (a linear layer over 4.2M rows) needs
    # several launches; each must start at its own rows.
    M, K, N = 65535 * 64 + 70, 4, 3
    a, b, bias = f32(rng, M, K), f32(rng, K, N), f32(rng, N)
    got = cc.ops.gemm(cc.from_numpy(a), cc.from_numpy(b), col_bias=cc.from_numpy(bias)).numpy()
    close(got, a.astype(np.float64) @ b + bias, K)
    got = cc.ops.gemm(cc.from_numpy(a), cc.from_numpy(b), allow_tf32=True).numpy()
    ref = a.astype(np.float64) @ b
    np.testing.assert_allclose(got, ref, rtol=0, atol=4 * 2.0 ** -10 * np.abs(ref).max())


@needs_gpu
def test_conv_more_groups_than_grid_z_holds(rng):
    # groups (the implicit GEMM's gridDim.z) above 65535 take several launches.
    G = 65537
    x, w, b = f32(rng, 1, 2 * G, 1, 2), f32(rng, G, 2, 1, 1), f32(rng, G)
    y = cc.ops.conv2d(cc.from_numpy(x), cc.from_numpy(w), cc.from_numpy(b), groups=G).numpy()
    xg = x.astype(np.float64).reshape(1, G, 2, 1, 2)
    ref = (xg * w.reshape(1, G, 2, 1, 1)).sum(2) + b.reshape(1, G, 1, 1)
    close(y, ref, 2)
    dy = f32(rng, *y.shape)
    dx = cc.ops.conv2d_input(x.shape, cc.from_numpy(w), cc.from_numpy(dy), groups=G).numpy()
    close(dx, (dy.astype(np.float64).reshape(1, G, 1, 1, 2) * w.reshape(1, G, 2, 1, 1)).reshape(x.shape), 1)
    dw = cc.ops.conv2d_weight(cc.from_numpy(x), w.shape, cc.from_numpy(dy), groups=G).numpy()
    close(dw, (xg * dy.reshape(1, G, 1, 1, 2)).sum(axis=(0, 3, 4)).reshape(w.shape), 2)


@needs_gpu
def test_conv_misaligned_weight_takes_the_scalar_loads(rng):
    # float4 loads of the weights need 16-byte alignment: a weight shared from another
    # library at an odd offset must still give the right result (no misaligned-address fault).
    x, w = f32(rng, 2, 4, 6, 6), f32(rng, 8, 4, 1, 1)  # C*R*S = 4: the float4 path when aligned
    storage = cc.from_numpy(np.concatenate([[0.0], w.ravel()]).astype(np.float32))
    shifted = cc._cuda.from_pointer(storage.data_ptr + 4, list(w.shape), "float32", storage, None)
    assert shifted.data_ptr % 16 != 0
    y = cc.ops.conv2d(cc.from_numpy(x), shifted).numpy()
    close(y, conv2d_ref(x, w, None, (1, 1), (0, 0, 0, 0)), 4)


@needs_gpu
def test_conv_gradients_of_an_empty_batch(rng):
    w = cc.from_numpy(f32(rng, 5, 3, 3, 3))
    dy = cc.zeros((0, 5, 4, 4))
    dw = cc.ops.conv2d_weight(cc.zeros((0, 3, 4, 4)), (5, 3, 3, 3), dy, padding=1).numpy()
    np.testing.assert_array_equal(dw, np.zeros((5, 3, 3, 3), np.float32))  # poisoned: must be written
    assert cc.ops.conv2d_input((0, 3, 4, 4), w, dy, padding=1).shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(cc.ops.conv2d_bias(dy).numpy(), np.zeros(5, np.float32))


@needs_gpu
def test_gemm_refuses_out_overlapping_an_input(rng):
    a = cc.from_numpy(f32(rng, 4, 4))
    with pytest.raises(ValueError, match="share memory"):
        cc.ops.gemm(a, cc.from_numpy(f32(rng, 4, 4)), out=a)


@needs_gpu
def test_unconsumed_dlpack_capsule_frees_its_tensor():
    cc.empty_cache()
    t = cc.zeros((256, 1024))
    in_use = cc.memory_stats()["in_use_bytes"]
    capsule = t.__dlpack__()
    del t
    assert cc.memory_stats()["in_use_bytes"] == in_use  # the capsule holds it
    del capsule
    assert cc.memory_stats()["in_use_bytes"] <= in_use - 1024 * 1024
    # A consumed capsule is renamed and freed once, by the consumer's deleter.
    t = cc.zeros((3,))
    capsule = t.__dlpack__()
    shared = cc.from_dlpack(capsule)
    with pytest.raises(ValueError, match="unconsumed"):
        cc.from_dlpack(capsule)
    del capsule, t
    np.testing.assert_array_equal(shared.numpy(), np.zeros(3, np.float32))


@needs_gpu
def test_concat_and_narrow_with_rows_beyond_2_gib():
    # cudaMemcpy2D refuses pitches over 2^31 - 1 bytes: such rows are copied whole (one row)
    # or one copy per row.
    n = 2 ** 29 + 5  # floats: 2 GiB + 20 bytes per row
    if cc._cuda.mem_get_info()[0] < 8 * 4 * n + 2 ** 30:
        pytest.skip("needs ~18 GB of free GPU memory")
    a, b = cc.zeros((2, n)), cc.empty((2, n))
    cc._cuda.fill_(b, 2.0)
    for axis in (1, 0):  # two rows of 4 GiB pitch; then one row (outer = 1) of 16 GiB
        both = cc.ops.concat([a, b], axis=axis)
        assert both.shape == ((2, 2 * n) if axis == 1 else (4, n))
        assert cc.ops.sum_of_squares(both) == 4.0 * 2 * n
        back = cc.ops.narrow(both, axis, both.shape[axis] // 2, both.shape[axis] // 2)
        assert back.shape == (2, n) and cc.ops.sum_of_squares(back) == 4.0 * 2 * n
        del both, back
    del a, b
    cc.empty_cache()


@needs_gpu
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_nan_indices_match_cpu(rng, k, s, p):
    # Several NaNs in one window: PyTorch and the CPU keep the last NaN's index.
    x = f32(rng, 2, 3, 7, 8)
    x[0, 0, 0, :3] = np.nan
    x[0, 0, 1, 1] = np.nan
    x[1, 2, 2:5, 4] = np.nan
    y, idx = cc.ops.max_pool2d(cc.from_numpy(x), k, s, p, return_indices=True)
    cy, cidx = ops.max_pool2d(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), cy)  # NaN positions included
    np.testing.assert_array_equal(idx.numpy(), cidx)


@needs_gpu
def test_long_reductions_loop_over_the_block(rng):
    # The reductions run one 256-thread block per channel / row / tap: the cases above have
    # fewer than 256 values each, so the strided loop never took a second step. Here every
    # reduction is thousands of values long (odd, not a multiple of 256).
    x = f32(rng, 3, 5, 37, 41)  # 4551 values per channel, 1517 per plane
    xd = x.astype(np.float64)
    w, b = f32(rng, 5), f32(rng, 5)
    tx = cc.from_numpy(x)
    y, mean, invstd = cc.ops.batch_norm_forward(tx, None, None, cc.from_numpy(w), cc.from_numpy(b), training=True)
    close(y.numpy(), bn_ref(xd, w.astype(np.float64), b), 4551)
    dy = f32(rng, *x.shape)
    gi, gw, gb = (t.numpy() for t in cc.ops.batch_norm_backward(cc.from_numpy(dy), tx, cc.from_numpy(w), mean,
                                                                 invstd, training=True))
    m, v = xd.mean(axis=(0, 2, 3), keepdims=True), xd.var(axis=(0, 2, 3), keepdims=True)
    xhat = (xd - m) / np.sqrt(v + 1e-5)
    close(gb, dy.astype(np.float64).sum(axis=(0, 2, 3)), 4551)
    close(gw, (dy * xhat).sum(axis=(0, 2, 3)), 4551)
    n = 3 * 37 * 41
    ref_gi = w.reshape(1, -1, 1, 1) / np.sqrt(v + 1e-5) * (
        dy - dy.mean(axis=(0, 2, 3), keepdims=True) - xhat * (dy * xhat).sum(axis=(0, 2, 3), keepdims=True) / n)
    close(gi, ref_gi, 4551)
    # Group norm rows of 5 * 1517 values; layer norm rows of 1517.
    yg, _, _ = cc.ops.group_norm_forward(tx, 1, cc.from_numpy(w), cc.from_numpy(b))
    close(yg.numpy(), gn_ref(xd, 1, w.astype(np.float64), b), 7585)
    yl, _, _ = cc.ops.layer_norm_forward(tx, (37, 41))
    close(yl.numpy(), ln_ref(xd, 1517, np.ones(1517), np.zeros(1517)), 1517)
    # Bias gradient, global average pooling, depthwise weight gradient (one block per tap).
    close(cc.ops.conv2d_bias(cc.from_numpy(dy)).numpy(), dy.astype(np.float64).sum(axis=(0, 2, 3)), 4551)
    close(cc.ops.global_avg_pool2d(tx).numpy(), xd.mean(axis=(2, 3), keepdims=True), 1517)
    dww = cc.ops.conv2d_weight(tx, (5, 1, 3, 3), cc.from_numpy(dy), padding=1, groups=5).numpy()
    close(dww, conv2d_weight_ref(x, (5, 1, 3, 3), dy, (1, 1), (1, 1, 1, 1), (1, 1), 5), 4551)
    # Softmax and cross-entropy along a long class axis.
    logits, target = f32(rng, 4, 1001) * 3, rng.integers(0, 1001, 4).astype(np.int64)
    ld = logits.astype(np.float64)
    lse = np.log(np.exp(ld - ld.max(1, keepdims=True)).sum(1)) + ld.max(1)
    close(cc.ops.log_softmax(cc.from_numpy(logits), 1).numpy(), ld - lse[:, None], 1001)
    per = cc.ops.cross_entropy(cc.from_numpy(logits), cc.from_numpy(target), reduction="none").numpy()
    close(per, lse - ld[np.arange(4), target], 1001)


@needs_gpu
def test_conv2d_weight_gradient_split_k_with_groups(rng):
    # Split-K and groups share gridDim.z (z = group * splits + split): both must be decoded.
    x, dy = f32(rng, 8, 4, 31, 33), f32(rng, 8, 6, 31, 33)
    dw = cc.ops.conv2d_weight(cc.from_numpy(x), (6, 2, 3, 3), cc.from_numpy(dy), padding=1, groups=2).numpy()
    close(dw, conv2d_weight_ref(x, (6, 2, 3, 3), dy, (1, 1), (1, 1, 1, 1), (1, 1), 2), 8 * 31 * 33)


@needs_gpu
def test_momentum_buffers_follow_the_model_between_devices():
    """Train on the GPU, move the model back to the CPU mid-run and keep training: the
    momentum buffers must follow (they were left on the GPU, and step() raised), and the
    result equals a run that stayed on the CPU."""
    import cnnnative
    from cnnnative import models, nn, optim
    from cnnnative.train import Trainer
    data = cnnnative.data.load_dataset("digits", "train", None, False)
    x, y = data.normalize(data.images[:64]), data.labels[:64]
    results = []
    for devices in (("cpu", "cpu"), ("cuda", "cpu"), ("cpu", "cuda")):
        nn.init.manual_seed(0)
        model = models.build("digits_net")
        trainer = Trainer(model, optim.SGD(model, lr=0.05, momentum=0.9), seed=0, quiet=True)
        losses = []
        for i, device in zip((0, 32), devices):
            model.to(device)
            losses += [trainer.step(x[j:j + 16], y[j:j + 16]) for j in (i, i + 16)]
        model.to("cpu")
        results.append((losses, [p.data.copy() for p in model.parameters()]))
    for losses, params in results[1:]:
        np.testing.assert_allclose(losses, results[0][0], rtol=1e-3, atol=1e-4)
        for a, b in zip(params, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@needs_gpu
def test_module_to_names_a_gpu_and_trainer_uses_it():
    from cnnnative import models, nn, optim
    from cnnnative.train import Trainer
    last = cc.device_count() - 1
    nn.init.manual_seed(0)
    model = models.build("digits_net").to(f"cuda:{last}")
    assert model.device_index == last
    assert all(p.data.device == last for p in model.parameters())
    model.to("cuda:0")  # from one GPU to another (a no-op with one GPU)
    assert model.device_index == 0 and all(p.data.device == 0 for p in model.parameters())
    model.to(f"cuda:{last}")
    trainer = Trainer(model, optim.SGD(model, lr=0.05, momentum=0.9), seed=0, quiet=True)
    x = np.random.default_rng(0).standard_normal((8, 1, 8, 8)).astype(np.float32)
    loss = trainer.step(x, np.arange(8) % 10)
    assert np.isfinite(loss)
